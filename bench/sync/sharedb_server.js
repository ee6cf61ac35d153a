// The reference server of bench/bench_sync.py: ShareDB 7.0.0 on its in-memory backend
// (`new ShareDB()`: MemoryDB, in-process pub/sub), each WebSocket (ws, defaults: no
// per-message compression) a ShareDB agent through @teamwork/websocket-json-stream.
//
//   node sharedb_server.js <port> <docs.json>
//
// docs.json: {"collection": "assignments", "docs": {"<id>": <initial content>, ...}};
// every document is created before the server listens. Prints "ready <port>" once it
// accepts connections. Run with NODE_PATH at the bench project's node_modules
// (BENCH_SHAREDB in bench/bench_sync.py). Any query string of the
// WebSocket URL (an access token) is ignored: ShareDB has no authentication.
'use strict';

const fs = require('fs');
const ShareDB = require('sharedb');
const WebSocket = require('ws');
const WebSocketJSONStream = require('@teamwork/websocket-json-stream');

const [port, docsPath] = process.argv.slice(2);
const {collection, docs} = JSON.parse(fs.readFileSync(docsPath, 'utf8'));
const backend = new ShareDB();
const connection = backend.connect();

function createAll(ids, done) {
  let left = ids.length;
  if (left === 0) return done();
  for (const id of ids) {
    connection.get(collection, id).create(docs[id], (err) => {
      if (err) throw err;
      if (--left === 0) done();
    });
  }
}

createAll(Object.keys(docs), () => {
  const wss = new WebSocket.Server({host: '127.0.0.1', port: Number(port)}, () => {
    process.stdout.write(`ready ${wss.address().port}\n`);
  });
  wss.on('connection', (ws) => backend.listen(new WebSocketJSONStream(ws)));
  const stop = () => wss.close(() => backend.close(() => process.exit(0)));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
});
