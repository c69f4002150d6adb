'use strict';
// Preloaded with `node --require bind_loopback.cjs ...` in front of servers that
// have no host option (fauxqs 1.9.x calls `app.listen({port, host: "0.0.0.0"})`).
// Every TCP listen that asks for a wildcard address (0.0.0.0, ::, or none at all)
// is rewritten to 127.0.0.1, so the server is never reachable from other hosts.
// Unix-socket listens (path / fd / handle) are left alone.
const net = require('node:net');

const LOOPBACK = '127.0.0.1';
const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]', '::0']);

function isWildcard(host) {
  return host === undefined || host === null || WILDCARDS.has(host);
}

const originalListen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object') {
    const isTcp = first.path === undefined && first.fd === undefined &&
      first.handle === undefined && first._handle === undefined;
    if (isTcp && isWildcard(first.host)) {
      args[0] = { ...first, host: LOOPBACK };
    }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] === 'string') {
      if (isWildcard(args[1])) args[1] = LOOPBACK;
    } else {
      args.splice(1, 0, LOOPBACK); // listen(port[, backlog][, cb])
    }
  } else if (first === undefined || typeof first === 'function') {
    args.splice(0, 0, 0, LOOPBACK); // listen([cb]): a random port, on loopback
  }
  return originalListen.apply(this, args);
};
