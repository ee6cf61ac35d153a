// The reference json0 (the npm package ot-json0) as a long-lived worker.
//
//   node json0_worker.js <the unpacked ot-json0 folder>
//
// On start it prints one line: {"ready": "<name>@<version>", "node": "<version>"}.
// Then it reads newline-delimited JSON requests on stdin, one batch each,
//
//   {"calls": [{"f": "apply", "a": [doc, op]},
//              {"f": "transform", "a": [op, other, "left"]},
//              {"f": "apply", "a": [null, op2], "r": {"0": 0}}, ...]}
//
// and answers each with one line, in order:
//
//   {"results": [{"ok": value} | {"error": "the reference's message"}, ...]}
//
// "f" is one of apply, transform, transformX, compose, invert, normalize (the
// json0 type's functions of the same name). "r" maps an argument's index to
// the index of an earlier call of the same batch whose result it takes (that
// call failed: this one fails too). Every argument is a fresh deep copy: the
// reference's apply mutates the snapshot it is given. A line that is not a
// valid request is answered {"fatal": "<why>"}. The worker ends at the end of
// its input.
'use strict';

const path = require('path');
const readline = require('readline');

const folder = process.argv[2];
if (!folder) {
  process.stderr.write('usage: node json0_worker.js <ot-json0 folder>\n');
  process.exit(2);
}
const manifest = require(path.resolve(folder, 'package.json'));
const json0 = require(path.resolve(folder)).type;

const clone = (value) => (value === undefined ? null : JSON.parse(JSON.stringify(value)));

const FUNCTIONS = {
  apply: (snapshot, op) => json0.apply(snapshot, op),
  transform: (op, other, side) => json0.transform(op, other, side),
  transformX: (left, right) => json0.transformX(left, right),
  compose: (a, b) => json0.compose(a, b),
  invert: (op) => json0.invert(op),
  normalize: (op) => json0.normalize(op),
};

function message(err) {
  if (err instanceof Error) return err.message;
  return String(err);
}

function runBatch(calls) {
  const results = [];
  const values = [];
  for (let i = 0; i < calls.length; i++) {
    const call = calls[i];
    let outcome;
    try {
      const fn = FUNCTIONS[call.f];
      if (typeof fn !== 'function') throw new Error(`unknown function ${JSON.stringify(call.f)}`);
      const args = (call.a || []).map(clone);
      for (const [argIndex, callIndex] of Object.entries(call.r || {})) {
        if (!(callIndex >= 0 && callIndex < i)) throw new Error(`bad reference to call ${callIndex}`);
        if (!results[callIndex] || !('ok' in results[callIndex])) {
          throw new Error(`call ${callIndex}, an argument of this one, failed`);
        }
        args[Number(argIndex)] = clone(values[callIndex]);
      }
      // a copy now: a later call must not see what this call's caller mutates
      const value = clone(fn(...args));
      values.push(value);
      outcome = {ok: value};
    } catch (err) {
      values.push(undefined);
      outcome = {error: message(err)};
    }
    results.push(outcome);
  }
  return results;
}

function answer(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

answer({ready: `${manifest.name}@${manifest.version}`, node: process.version});

const lines = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
lines.on('line', (line) => {
  if (line.trim() === '') return;
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    answer({fatal: `not JSON: ${message(err)}`});
    return;
  }
  if (request === null || !Array.isArray(request.calls)) {
    answer({fatal: 'a request is {"calls": [...]}'});
    return;
  }
  answer({results: runBatch(request.calls)});
});
lines.on('close', () => process.exit(0));
