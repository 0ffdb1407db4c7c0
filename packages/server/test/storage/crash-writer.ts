// Child process for crash.test.ts: writes through the store as fast as it can and prints
// the name of each domain once its creation is acknowledged, until it is killed.
//
//   node crash-writer.ts sqlite <path> | postgres <url>

import { openStore } from '../../src/storage/open.ts';

const [kind, location] = process.argv.slice(2);
if (!location || (kind !== 'sqlite' && kind !== 'postgres')) {
  throw new Error('usage: crash-writer.ts sqlite <path> | postgres <url>');
}
const store = await openStore(kind === 'sqlite' ? { kind, path: location } : { kind, url: location });
const writer = { actor: 'crash-writer' };

let next = 0;
// Several writers, so that some writes are always in flight when the kill arrives.
async function write(): Promise<never> {
  for (;;) {
    const name = `crash${next++}`;
    await store.createDomain({ name }, writer);
    // Synchronous on a pipe: once written, the parent reads it even after a SIGKILL.
    process.stdout.write(`${name}\n`);
  }
}
await Promise.all([write(), write(), write(), write()]);
