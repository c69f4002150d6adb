'use strict';
// Preloaded with `node --require bind_loopback.cjs ...` in front of servers that
// have no host option (fauxqs 1.9.x calls `app.listen({port, host: "0.0.0.0"})`).
// Every TCP listen that asks for a wildcard address (0.0.0.0, ::, or none at all)
// is rewritten to the address in $AWS_LOAD_EMULATOR_BIND, 127.0.0.1 when unset or
// empty, so the server is never reachable from other hosts unless that variable
// says so. The variable must be an IPv4 address: anything else stops the process
// before it listens. A TCP server that still ends up listening anywhere else is
// stopped too (exit 1). Unix-socket listens (path / fd / handle) are left alone.
const net = require('node:net');

const BIND_ENV = 'AWS_LOAD_EMULATOR_BIND';
const BIND = (process.env[BIND_ENV] ?? '').trim() || '127.0.0.1';
if (!net.isIPv4(BIND)) {
  console.error(`bind_loopback.cjs: ${BIND_ENV}=${JSON.stringify(process.env[BIND_ENV])} is not an IPv4 address; refusing to start`);
  process.exit(2);
}
const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]', '::0']);

function isWildcard(host) {
  return host === undefined || host === null || WILDCARDS.has(host);
}

function checkBound() {
  const bound = this.address();
  if (bound !== null && typeof bound === 'object' && bound.address !== BIND) {
    console.error(`bind_loopback.cjs: a server listens on ${bound.address}:${bound.port}, not ${BIND}; exiting`);
    process.exit(1);
  }
}

const originalListen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnBindAddress(...args) {
  const first = args[0];
  let tcp = true;
  if (first !== null && typeof first === 'object') {
    tcp = first.path === undefined && first.fd === undefined &&
      first.handle === undefined && first._handle === undefined;
    if (tcp && isWildcard(first.host)) {
      args[0] = { ...first, host: BIND };
    }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] === 'string') {
      if (isWildcard(args[1])) args[1] = BIND;
    } else {
      args.splice(1, 0, BIND); // listen(port[, backlog][, cb])
    }
  } else if (first === undefined || typeof first === 'function') {
    args.splice(0, 0, 0, BIND); // listen([cb]): a random port, on the bind address
  } else {
    tcp = false; // listen(path[, ...]): a unix socket
  }
  if (tcp) this.once('listening', checkBound);
  return originalListen.apply(this, args);
};
