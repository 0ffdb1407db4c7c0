// The floor of the gateway benchmark (bench/gateway.ts): the least a reverse proxy in Node does.
// Plain node:http in front of one upstream, a keep-alive agent, the request piped up and the
// answer piped down, an Authorization header set; no routes, no callers, no tokens, no log. A
// proxy in one Node process cannot beat it; the gateway's question is how close it gets.
//
//   node bench/servers/plain-proxy.ts <port> <upstream port>
//
// Prints {"ready":true,"pids":[…]} once it listens.

import { Agent, createServer, request } from 'node:http';

const port = Number(process.argv[2]);
const upstreamPort = Number(process.argv[3]);
const agent = new Agent({ keepAlive: true });

const server = createServer((req, res) => {
  const headers = { ...req.headers, host: `127.0.0.1:${upstreamPort}`, authorization: 'Bearer plain-proxy' };
  delete headers.connection;
  const upstreamReq = request({ hostname: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers, agent }, (upstreamRes) => {
    if (res.closed) {
      upstreamReq.destroy();
      return;
    }
    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
    upstreamRes.once('close', () => {
      if (!upstreamRes.complete) res.destroy();
    });
    upstreamRes.pipe(res);
  });
  upstreamReq.on('error', () => {
    if (res.headersSent) res.destroy();
    else res.writeHead(502).end();
  });
  res.once('close', () => {
    if (!res.writableFinished) upstreamReq.destroy();
  });
  req.pipe(upstreamReq);
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ ready: true, pids: [process.pid] })));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
