// One process's audit writer for sqlite-processes.test.ts: appends `batches` batches of `size`
// token events to the shared SQLite file as fast as it can, then reports what failed.

import { openStore } from '../../src/storage/open.ts';

const [path, tag, batches, size] = [process.argv[2]!, process.argv[3]!, Number(process.argv[4]), Number(process.argv[5])];
const store = await openStore({ kind: 'sqlite', path });
const failures: string[] = [];
for (let batch = 0; batch < batches; batch += 1) {
  const events = Array.from({ length: size }, (_, i) => ({
    at: Date.now(),
    actor: `${tag}.client`,
    type: 'token.issued',
    target: `${tag}-${batch}-${i}`,
    before: null,
    after: { clientIp: '127.0.0.1' },
  }));
  try {
    await store.appendAuditBatch(events);
  } catch (error) {
    failures.push((error as Error).message);
  }
}
await store.close();
process.stdout.write(JSON.stringify({ failures }));
