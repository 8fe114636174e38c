// A small web app that rolls out without losing requests (Node's http module only).
//
//   node server.js HOST PORT
//
// Readiness: GET /healthz answers 200 while serving. On SIGTERM (sent after the preStop sleep,
// when every proxy has dropped the pod) it stops accepting, closes idle keep-alive
// connections, lets in-flight requests finish and exits 0.
"use strict";
const http = require("http");

const [host, port] = [process.argv[2] || "0.0.0.0", Number(process.argv[3] || 8080)];
const server = http.createServer((req, res) => {
  res.writeHead(200, { "Content-Type": "text/plain" });
  res.end("ok\n");
});
server.listen(port, host);

process.on("SIGTERM", () => {
  server.close(() => process.exit(0)); // stop accepting; exit once in-flight requests end
  server.closeIdleConnections(); // Node >= 18.2: idle keep-alive sockets go now
});
