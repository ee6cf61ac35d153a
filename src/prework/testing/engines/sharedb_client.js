// ShareDB's own client (the npm package sharedb, unmodified) as a long-lived
// worker: named clients, each a sharedb Connection over a `ws` WebSocket, driven
// by JSON commands so that a test can make real clients edit a server's documents.
//
//   node sharedb_client.js <a node_modules folder holding sharedb and ws>
//
// On start it prints one line: {"ready": "sharedb@<version>", "ws": "ws@<version>",
// "node": "<version>"}. Then it reads newline-delimited JSON requests on stdin,
//
//   {"id": 1, "cmd": "connect", "client": "a", "url": "ws://...?access_token=..."}
//
// and answers each with one line, {"id": 1, "ok": <value>} or {"id": 1, "error":
// "<why>"}, once the command is done: requests run concurrently, answers come in
// the order they finish. Commands (every one names its "client"; "doc" is a
// document id of the collection "assignments"; waits end with an error after
// "timeout" ms, default 10000):
//
//   connect {url}            a new Connection on a new socket; waits until connected
//                            -> {id: the connection's id}
//   subscribe {doc, prevent_compose?}
//                            doc.subscribe -> the doc's state (below);
//                            prevent_compose: doc.preventCompose (each op is sent
//                            on its own, none composed into a pending one)
//   fetch {doc}              doc.fetch (no subscription) -> the doc's state
//   unsubscribe {doc}        doc.unsubscribe -> the doc's state
//   submit {doc, ops, wait?, lose_ack?, kill?}
//                            doc.submitOp for each op in turn, in one tick; -> the
//                            state right after (the ops are pending), or with
//                            wait: once every op's callback ran, with "errors" (each
//                            callback's error message or null). lose_ack: from the
//                            moment the next op is written to the socket, nothing
//                            the server sends reaches the client (its ack is lost);
//                            kill: once it is written, the socket is terminated
//   type {doc, item, edits}  keystrokes in the text answer item as the doc holds it
//                            now, each submitted at once, in one tick: {insert:
//                            "<character>", at: 0..1} at that fraction of the text
//                            (between code points), or {delete: "<characters>",
//                            pick: 0..1} one of those found in it (none: skipped);
//                            -> the state right after, with "ops" (those submitted)
//   state {doc}              {v, data, pending (ops not acknowledged), connection
//                            (its state), id (its id)}
//   settle {doc, v?}         waits until the doc has nothing pending (and is at
//                            version v) -> its state
//   offline {abrupt?}        closes the socket (abrupt: terminates it, no closing
//                            handshake); waits until the Connection is disconnected.
//                            The Connection keeps taking ops into its pending queue
//   online {url}             connection.bindToSocket(a new socket); waits until
//                            connected -> {id}
//   received                 the error messages the server sent this client since
//                            the last call, as received (connection 'receive')
//   events                   'error' events of its Connection and docs, and errors
//                            passed to its ops' callbacks, since the last call
//   presence_subscribe {channel}            connection.getPresence(channel).subscribe
//   presence_submit {channel, presence, value}
//                            presence.create(presence) once, then .submit(value)
//   presence_wait {channel, presence, value}
//                            waits until the remote presence of that id is value
//                            (null: gone) -> value
//   close                    closes its socket and forgets the client
//   together {commands: [...]}
//                            starts every command (each with its own "client") in
//                            one tick, so that ops of several clients are on the
//                            wire before any answer is read; -> their results
//
// The worker ends at the end of its input.
'use strict';

const path = require('path');
const readline = require('readline');
const util = require('util');

const modules = process.argv[2];
if (!modules) {
  process.stderr.write('usage: node sharedb_client.js <node_modules folder>\n');
  process.exit(2);
}
const sharedb = require(path.resolve(modules, 'sharedb', 'lib', 'client'));
const WebSocket = require(path.resolve(modules, 'ws'));
const SHAREDB_VERSION = require(path.resolve(modules, 'sharedb', 'package.json')).version;
const WS_VERSION = require(path.resolve(modules, 'ws', 'package.json')).version;

const COLLECTION = 'assignments';
const DEFAULT_TIMEOUT = 10000;
const clients = new Map();

const clone = (value) => (value === undefined ? null : JSON.parse(JSON.stringify(value)));
const messageOf = (err) => (err instanceof Error ? err.message : String(err));

// ------------------------------------------------------------------ the socket
// What a Connection needs of a socket (readyState, send, close and the on*
// handlers), passed through to a ws WebSocket; it can lose what the server sends.
class Transport {
  constructor(client, url) {
    this.client = client;
    this.losing = false;
    this.afterNextOp = null; // 'lose' or 'kill': what happens once the next op is sent
    this.onopen = null;
    this.onclose = null;
    this.onmessage = null;
    this.onerror = null;
    this.ws = new WebSocket(url);
    this.ws.onopen = () => this.onopen && this.onopen();
    this.ws.onmessage = (event) => {
      if (this.losing) return;
      if (this.onmessage) this.onmessage({data: event.data});
    };
    // not 'closed' nor 'stopped': the Connection is 'disconnected' and reconnects
    this.ws.onclose = (event) => this.onclose && this.onclose(`socket closed (${event.code})`);
    this.ws.onerror = (event) => this.onerror && this.onerror(event.message || 'socket error');
  }

  get readyState() {
    return this.ws.readyState;
  }

  send(data) {
    const then = this.afterNextOp && JSON.parse(data).a === 'op' ? this.afterNextOp : null;
    if (then === 'kill') {
      // the op written to the network, the socket dies at once (no closing handshake)
      this.afterNextOp = null;
      this.ws.send(data, () => this.ws.terminate());
      return;
    }
    this.ws.send(data);
    if (then === 'lose') {
      // nothing the server sends can be read before this line: its answer is lost
      this.afterNextOp = null;
      this.losing = true;
    }
  }

  close() {
    this.ws.close();
  }
}

// ------------------------------------------------------------------ waiting
function until(check, timeout, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      let value;
      try {
        value = check();
      } catch (err) {
        return reject(err);
      }
      if (value !== undefined) return resolve(value);
      if (Date.now() - started > timeout) return reject(new Error(`timed out waiting for ${what()}`));
      setTimeout(tick, 2);
    };
    tick();
  });
}

function withTimeout(promise, timeout, what) {
  let timer;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeout);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

function connected(client, timeout) {
  const connection = client.connection;
  return until(
    () => (connection.state === 'connected' ? {id: connection.id} : undefined),
    timeout,
    () => `${client.name} to connect (state ${connection.state})`,
  );
}

// ------------------------------------------------------------------ clients
function clientOf(request) {
  const client = clients.get(request.client);
  if (!client) throw new Error(`no client ${JSON.stringify(request.client)}`);
  return client;
}

function docOf(client, id) {
  if (typeof id !== 'string') throw new Error('a command on a document names it ("doc")');
  const doc = client.connection.get(COLLECTION, id);
  if (!client.docs.has(id)) {
    client.docs.add(id);
    doc.on('error', (err) => client.events.push(`doc ${id}: ${messageOf(err)}`));
  }
  return doc;
}

function stateOf(client, doc) {
  return {
    v: doc.version,
    data: clone(doc.data),
    pending: doc.hasWritePending(),
    connection: client.connection.state,
    id: client.connection.id,
  };
}

function presenceOf(client, channel) {
  if (typeof channel !== 'string') throw new Error('a presence command names its "channel"');
  let presence = client.presences.get(channel);
  if (!presence) {
    presence = {channel: client.connection.getPresence(channel), local: new Map()};
    presence.channel.on('error', (err) => client.events.push(`presence ${channel}: ${messageOf(err)}`));
    client.presences.set(channel, presence);
  }
  return presence;
}

// doc.submitOp; a promise of the callback's error message (null for none), which
// is also an event of the client
function submitted(client, doc, op) {
  return new Promise((resolve) =>
    doc.submitOp(op, (err) => {
      if (err) client.events.push(`op ${JSON.stringify(op)}: ${messageOf(err)}`);
      resolve(err ? messageOf(err) : null);
    }),
  );
}

// A keystroke in the text answer `item` as it is now: {insert: "x", at: 0..1} puts
// the character at that fraction of the text (between two code points); {delete:
// "<characters>", pick: 0..1} deletes one of those characters found in the text
// (none there: nothing). The op, or null.
function keystroke(doc, item, edit) {
  const text = doc.data && doc.data.answers && doc.data.answers[item];
  if (typeof text !== 'string') throw new Error(`answer ${item} is not a text`);
  const points = Array.from(text);
  const unitsBefore = (i) => points.slice(0, i).join('').length;
  if (typeof edit.delete === 'string') {
    const own = [];
    points.forEach((ch, i) => Array.from(edit.delete).includes(ch) && own.push(i));
    if (!own.length) return null;
    const i = own[Math.min(own.length - 1, Math.floor(edit.pick * own.length))];
    return [{p: ['answers', item, unitsBefore(i)], sd: points[i]}];
  }
  const i = Math.min(points.length, Math.floor(edit.at * (points.length + 1)));
  return [{p: ['answers', item, unitsBefore(i)], si: edit.insert}];
}

const COMMANDS = {
  async connect(request, timeout) {
    if (clients.has(request.client)) throw new Error(`client ${request.client} exists`);
    const client = {
      name: request.client,
      docs: new Set(),
      presences: new Map(),
      received: [],
      events: [],
    };
    client.transport = new Transport(client, request.url);
    client.connection = new sharedb.Connection(client.transport);
    client.connection.on('receive', (incoming) => {
      if (incoming.data && incoming.data.error) client.received.push(clone(incoming.data));
    });
    client.connection.on('error', (err) => client.events.push(`connection: ${messageOf(err)}`));
    clients.set(request.client, client);
    return connected(client, timeout);
  },

  async subscribe(request, timeout) {
    const client = clientOf(request);
    const doc = docOf(client, request.doc);
    if (request.prevent_compose) doc.preventCompose = true;
    await withTimeout(
      util.promisify((callback) => doc.subscribe(callback))(),
      timeout,
      `${client.name} to subscribe to ${request.doc}`,
    );
    return stateOf(client, doc);
  },

  async fetch(request, timeout) {
    const client = clientOf(request);
    const doc = docOf(client, request.doc);
    await withTimeout(
      util.promisify((callback) => doc.fetch(callback))(),
      timeout,
      `${client.name} to fetch ${request.doc}`,
    );
    return stateOf(client, doc);
  },

  async unsubscribe(request, timeout) {
    const client = clientOf(request);
    const doc = docOf(client, request.doc);
    await withTimeout(
      util.promisify((callback) => doc.unsubscribe(callback))(),
      timeout,
      `${client.name} to unsubscribe from ${request.doc}`,
    );
    return stateOf(client, doc);
  },

  async submit(request, timeout) {
    const client = clientOf(request);
    const doc = docOf(client, request.doc);
    if (!Array.isArray(request.ops) || !request.ops.length) throw new Error('submit needs "ops"');
    if (request.lose_ack) client.transport.afterNextOp = 'lose';
    if (request.kill) client.transport.afterNextOp = 'kill';
    const done = request.ops.map((op) => submitted(client, doc, op));
    const right = stateOf(client, doc);
    if (!request.wait) return right;
    const errors = await withTimeout(Promise.all(done), timeout, `${client.name}'s ops to be acknowledged`);
    return {...stateOf(client, doc), errors};
  },

  async type(request) {
    const client = clientOf(request);
    const doc = docOf(client, request.doc);
    if (!Array.isArray(request.edits)) throw new Error('type needs "edits"');
    const ops = [];
    for (const edit of request.edits) {
      const op = keystroke(doc, request.item, edit);
      if (op === null) continue;
      submitted(client, doc, op);
      ops.push(op);
    }
    return {...stateOf(client, doc), ops};
  },

  async state(request) {
    const client = clientOf(request);
    return stateOf(client, docOf(client, request.doc));
  },

  async settle(request, timeout) {
    const client = clientOf(request);
    const doc = docOf(client, request.doc);
    return until(
      () => {
        const at = request.v === undefined || request.v === null || doc.version === request.v;
        return at && !doc.hasWritePending() ? stateOf(client, doc) : undefined;
      },
      timeout,
      () => `${client.name} to settle at v${request.v}: ${JSON.stringify(stateOf(client, doc))}`,
    );
  },

  async offline(request, timeout) {
    const client = clientOf(request);
    const transport = client.transport;
    if (request.abrupt) transport.ws.terminate();
    else transport.ws.close();
    return until(
      () => (client.connection.state === 'disconnected' ? {} : undefined),
      timeout,
      () => `${client.name} to be disconnected (state ${client.connection.state})`,
    );
  },

  async online(request, timeout) {
    const client = clientOf(request);
    client.transport = new Transport(client, request.url);
    client.connection.bindToSocket(client.transport);
    return connected(client, timeout);
  },

  async received(request) {
    const client = clientOf(request);
    return client.received.splice(0);
  },

  async events(request) {
    const client = clientOf(request);
    return client.events.splice(0);
  },

  async presence_subscribe(request, timeout) {
    const client = clientOf(request);
    const presence = presenceOf(client, request.channel);
    await withTimeout(
      util.promisify((callback) => presence.channel.subscribe(callback))(),
      timeout,
      `${client.name} to subscribe to presence ${request.channel}`,
    );
    return {};
  },

  async presence_submit(request, timeout) {
    const client = clientOf(request);
    const presence = presenceOf(client, request.channel);
    let local = presence.local.get(request.presence);
    if (!local) {
      local = presence.channel.create(request.presence);
      presence.local.set(request.presence, local);
    }
    await withTimeout(
      util.promisify((callback) => local.submit(request.value, callback))(),
      timeout,
      `${client.name}'s presence to be sent`,
    );
    return {};
  },

  async presence_wait(request, timeout) {
    const client = clientOf(request);
    const presence = presenceOf(client, request.channel);
    const want = JSON.stringify(request.value);
    const seen = () => clone(presence.channel.remotePresences[request.presence]);
    return until(
      () => (JSON.stringify(seen()) === want ? seen() : undefined),
      timeout,
      () => `${client.name} to see presence ${request.presence} = ${want} (it sees ${JSON.stringify(seen())})`,
    );
  },

  async close(request) {
    const client = clientOf(request);
    clients.delete(request.client);
    client.transport.ws.close();
    return {};
  },

  async together(request, timeout) {
    if (!Array.isArray(request.commands)) throw new Error('together needs "commands"');
    return Promise.all(request.commands.map((command) => run(command, timeout)));
  },
};

function run(request, timeout) {
  const fn = Object.hasOwn(COMMANDS, request.cmd) ? COMMANDS[request.cmd] : null;
  if (!fn) return Promise.reject(new Error(`unknown command ${JSON.stringify(request.cmd)}`));
  try {
    return fn(request, request.timeout || timeout);
  } catch (err) {
    return Promise.reject(err);
  }
}

function answer(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
}

const input = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
input.on('line', (line) => {
  if (!line.trim()) return;
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    return answer({fatal: `not JSON: ${messageOf(err)}`});
  }
  run(request, DEFAULT_TIMEOUT).then(
    (value) => answer({id: request.id, ok: value === undefined ? null : value}),
    (err) => answer({id: request.id, error: messageOf(err)}),
  );
});
input.on('close', () => {
  for (const client of clients.values()) client.transport.ws.terminate();
  process.exit(0);
});

answer({ready: `sharedb@${SHAREDB_VERSION}`, ws: `ws@${WS_VERSION}`, node: process.versions.node});
