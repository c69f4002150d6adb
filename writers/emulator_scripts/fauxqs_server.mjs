// Starts fauxqs (SQS emulator, npm package 1.9.x) on 127.0.0.1 through its
// programmatic entry point. fauxqs 1.9.x has no listen-host option and binds
// 0.0.0.0; run this script as
//   node --require <this dir>/bind_loopback.cjs fauxqs_server.mjs <node_modules> <port>
// so that the preload rewrites the wildcard listen to 127.0.0.1, or to the IPv4
// address in $AWS_LOAD_EMULATOR_BIND when that is set.
//
// Note: fauxqs's queue URLs name the host sqs.<region>.localhost, which does not
// resolve here. Clients send every SQS call to the endpoint URL (boto3 does so
// for the JSON protocol), and the queue URL is only a key carried in the body.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [nodeModules, portText] = process.argv.slice(2);
if (!nodeModules || !portText || !/^\d+$/.test(portText)) {
  console.error('usage: node --require bind_loopback.cjs fauxqs_server.mjs <node_modules dir> <port>');
  process.exit(2);
}

const packageDir = join(nodeModules, 'fauxqs');
const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
const entry = pkg.exports?.['.']?.import?.default ?? pkg.main ?? 'dist/app.js';
const { startFauxqs } = await import(pathToFileURL(join(packageDir, entry)).href);

const expected = (process.env.AWS_LOAD_EMULATOR_BIND ?? '').trim() || '127.0.0.1';
const server = await startFauxqs({ port: Number(portText), logger: false });
const bound = new URL(server.address).hostname;
// Fastify reports a wildcard listen as one of the machine's addresses, so only a
// specific address can be compared here (the preload checks every listen anyway).
if (expected !== '0.0.0.0' && bound !== expected) {
  console.error(`fauxqs bound ${server.address}, not ${expected}: refusing to run`);
  await server.stop();
  process.exit(1);
}
console.log(`fauxqs ${pkg.version} listening at ${server.address}`);

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`fauxqs: ${signal}, stopping`);
  try {
    await server.stop();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
