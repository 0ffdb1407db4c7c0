// Child process for sqlite.test.ts: one more instance on the same SQLite file. Prints `ready`
// once its store is open, waits for a line on stdin so that every child starts at once, then
// tries to use each of the join tokens jt-0 … jt-<count-1> and prints the ids it won as JSON.
//
//   node join-token-consumer.ts <path> <count>

import { once } from 'node:events';
import { openStore } from '../../src/storage/open.ts';

const [path, count] = process.argv.slice(2);
if (!path || !count) throw new Error('usage: join-token-consumer.ts <path> <count>');
const store = await openStore({ kind: 'sqlite', path });
process.stdout.write('ready\n');
await once(process.stdin, 'data');
const won: string[] = [];
for (let i = 0; i < Number(count); i++) {
  if (await store.consumeJoinToken(`jt-${i}`, `HASH-OF-jt-${i}`, Date.now())) won.push(`jt-${i}`);
}
process.stdout.write(`${JSON.stringify(won)}\n`);
await store.close();
