// The upstream of the gateway benchmark (bench/gateway.ts): plain node:http on one loopback port,
// the same process whether it is called directly or through `tessera gateway`. It reads each
// request body to its end and answers by path:
//
//   /small   a small JSON answer
//   /large   a 1 MiB answer (one preallocated buffer)
//   /stream  a slow answer: 1 KiB every 100 ms over <stream-ms>, so that many stay open at once
//   /stats   {"streams", "maxStreams"}: streams open now and the most open at once so far
//
//   node bench/servers/upstream.ts <port> <stream-ms>
//
// Prints {"ready":true,"pids":[…]} once it listens.

import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const streamMs = Number(process.argv[3] ?? 5000);
const SMALL = Buffer.from(JSON.stringify({ ok: true, from: 'upstream' }));
const LARGE = Buffer.alloc(1024 * 1024, 0x61);
const CHUNK = Buffer.alloc(1024, 0x62);
const TICK_MS = 100;
let streams = 0;
let maxStreams = 0;

const server = createServer((req, res) => {
  req.resume();
  req.once('end', () => {
    const path = req.url?.split('?')[0];
    if (path === '/small') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': SMALL.length });
      res.end(SMALL);
    } else if (path === '/large') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': LARGE.length });
      res.end(LARGE);
    } else if (path === '/stream') {
      streams++;
      maxStreams = Math.max(maxStreams, streams);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const ends = Date.now() + streamMs;
      const timer = setInterval(() => {
        if (Date.now() >= ends) res.end(CHUNK);
        else res.write(CHUNK);
      }, TICK_MS);
      res.once('close', () => {
        clearInterval(timer);
        streams--;
      });
    } else if (path === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ streams, maxStreams }));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not_found"}');
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ ready: true, pids: [process.pid] })));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
