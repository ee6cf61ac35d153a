// One load generator process of bench/bench_sync.py: real ShareDB clients
// (sharedb/lib/client over ws, as a browser app runs them) against either server.
//
//   node load.js <config.json> <result.json>
//
// config: {"mode": "rate" | "saturate" | "idle", "rate": ops/s per client,
//          "max_length": characters, "connect_at_once": n,
//          "clients": [{"url": "ws://...", "doc": "<id>", "item": "<item id>"}, ...]}
//
// Each client subscribes to its document (collection "assignments") and types into
// its own text answer, answers.<item>: it appends a letter until the text has
// max_length characters, then deletes from the end down to nothing, and again (the
// first op inserts the answer when the document has none). It is the only writer
// of that answer, so its n-th op is the n-th op on that answer every other client
// sees: the orchestrator joins the submit times of one client with the times the
// others saw the op, by count (one clock: process.hrtime is CLOCK_MONOTONIC, shared
// by every process of the machine). Ops are never composed (doc.preventCompose): an
// op submitted while the previous one is in flight waits for its ack, as ShareDB's
// client does, and counts from the moment it was submitted.
//
// Lines on stdout/stdin: "ready" once every client is subscribed; then "go <start
// ns> <end ns>" (monotonic) starts the load at start and stops submitting at end:
// "rate" submits every 1/rate s from a random offset, "saturate" submits the next op
// as soon as the previous one is acknowledged. The process then waits for its acks
// and until no op has arrived for a second (at most 30 s), writes the result file and
// prints "done". "idle" connects and subscribes, prints "ready", and waits for "quit".
// Result: per client its submit and ack times (-2: refused, -1: never answered), and
// per other answer the times it saw each op, in microseconds since start; errors; CPU
// time used from start to end.
'use strict';

const fs = require('fs');
const readline = require('readline');
const WebSocket = require('ws');
const {Connection} = require('sharedb/lib/client');

const [configPath, resultPath] = process.argv.slice(2);
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
const COLLECTION = 'assignments';
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const QUIET_MS = 1000;
const DRAIN_LIMIT_MS = 30000;

let startNs = process.hrtime.bigint();
const micros = () => Number((process.hrtime.bigint() - startNs) / 1000n);
const errors = [];
let running = false;
let lastSeen = Date.now();

function fail(message) {
  process.stdout.write(`error ${message}\n`);
  process.exit(1);
}
process.on('uncaughtException', (err) => fail(`${err.stack || err}`.replace(/\n\s*/g, ' | ')));

function connect(spec) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(spec.url);
    const connection = new Connection(socket);
    const doc = connection.get(COLLECTION, spec.doc);
    doc.preventCompose = true;
    const client = {
      ...spec, socket, connection, doc,
      growing: true, sent: [], acked: [], lag: [], seen: {}, waiting: 0,
    };
    socket.addEventListener('close', (event) => {
      if (running || client.waiting > 0) errors.push(`socket closed ${event.code} ${event.reason}`);
    });
    connection.on('error', (err) => errors.push(`connection: ${err.message || err}`));
    doc.on('error', (err) => errors.push(`doc: ${err.message || err}`));
    doc.on('op', (op, source) => {
      if (source) return; // our own, applied locally at submit
      lastSeen = Date.now();
      const item = op[0].p[1];
      (client.seen[item] = client.seen[item] || []).push(micros());
    });
    doc.subscribe((err) => (err ? reject(new Error(`subscribe ${spec.doc}: ${err.message}`)) : resolve(client)));
  });
}

async function connectAll(specs, atOnce) {
  const clients = new Array(specs.length);
  let next = 0;
  async function worker() {
    while (next < specs.length) {
      const i = next++;
      clients[i] = await connect(specs[i]);
    }
  }
  await Promise.all(Array.from({length: Math.min(atOnce, specs.length)}, worker));
  return clients;
}

function nextOp(client) {
  const text = client.doc.data.answers[client.item];
  if (typeof text !== 'string') return [{p: ['answers', client.item], oi: 'a'}];
  if (client.growing && text.length >= config.max_length) client.growing = false;
  if (!client.growing && text.length === 0) client.growing = true;
  if (client.growing) {
    return [{p: ['answers', client.item, text.length], si: LETTERS[text.length % 26]}];
  }
  return [{p: ['answers', client.item, text.length - 1], sd: text[text.length - 1]}];
}

function submit(client) {
  const n = client.sent.length;
  client.sent.push(micros());
  client.acked.push(-1);
  client.waiting++;
  client.doc.submitOp(nextOp(client), (err) => {
    client.acked[n] = err ? -2 : micros(); // -1: never answered
    client.waiting--;
    if (err) {
      errors.push(`op: ${err.code || ''} ${err.message}`);
      return;
    }
    if (running && config.mode === 'saturate') setImmediate(() => running && submit(client));
  });
}

function scheduleRate(client, endUs) {
  const period = 1e6 / config.rate;
  const offset = Math.random() * period;
  let k = 0;
  const tick = () => {
    if (!running) return;
    const target = offset + k * period;
    if (target >= endUs) return;
    client.lag.push(micros() - target);
    submit(client);
    k++;
    setTimeout(tick, Math.max(0, (offset + k * period - micros()) / 1000));
  };
  setTimeout(tick, Math.max(0, (offset - micros()) / 1000));
}

function drained(clients) {
  return clients.every((c) => c.waiting === 0) && Date.now() - lastSeen >= QUIET_MS;
}

function finish(clients, cpu) {
  const deadline = Date.now() + DRAIN_LIMIT_MS;
  const check = () => {
    if (!drained(clients) && Date.now() < deadline) return setTimeout(check, 100);
    const unacked = clients.reduce((sum, c) => sum + c.waiting, 0);
    if (unacked) errors.push(`${unacked} ops never acknowledged`);
    const result = {
      cpu_us: cpu,
      errors,
      clients: clients.map((c) => ({
        doc: c.doc.id, item: c.item, sent: c.sent, acked: c.acked, lag: c.lag, seen: c.seen,
      })),
    };
    fs.writeFileSync(resultPath, JSON.stringify(result));
    process.stdout.write('done\n');
    for (const c of clients) c.socket.close();
    setTimeout(() => process.exit(0), 200).unref();
  };
  check();
}

function run(clients, goNs, endNs) {
  startNs = goNs;
  const endUs = Number((endNs - goNs) / 1000n);
  const wait = Math.max(0, -micros() / 1000);
  setTimeout(() => {
    const cpu0 = process.cpuUsage();
    running = true;
    for (const c of clients) {
      if (config.mode === 'saturate') submit(c);
      else scheduleRate(c, endUs);
    }
    setTimeout(() => {
      running = false;
      const used = process.cpuUsage(cpu0);
      lastSeen = Date.now();
      finish(clients, used.user + used.system);
    }, Math.max(0, (endUs - micros()) / 1000));
  }, wait);
}

async function main() {
  let clients;
  try {
    clients = await connectAll(config.clients, config.connect_at_once || 20);
  } catch (err) {
    fail(err.message);
  }
  if (errors.length) fail(errors[0]);
  process.stdout.write('ready\n');
  const lines = readline.createInterface({input: process.stdin});
  lines.on('line', (line) => {
    const [word, a, b] = line.trim().split(/\s+/);
    if (word === 'go') run(clients, BigInt(a), BigInt(b));
    else if (word === 'quit') {
      for (const c of clients) c.socket.close();
      setTimeout(() => process.exit(0), 200).unref();
    }
  });
}

main();
