import { spawn } from 'node:child_process';
import { formatProfile, summarizeProfiles } from './harness/profile.ts';
const port = 18555;
const started = performance.now();
const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/sprof', 'packages/cli/dist/bin/tessera.js', 'serve', '--workers', '1', '--data-dir', '/tmp/readyd', '--listen', `http://127.0.0.1:${port}`, '--log-level', 'warn'], { stdio: 'inherit' });
for (;;) {
  if (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)) break;
  await new Promise((r) => setTimeout(r, 5));
}
console.log('ready', Math.round(performance.now() - started));
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
console.log(formatProfile(await summarizeProfiles('/tmp/sprof')));
