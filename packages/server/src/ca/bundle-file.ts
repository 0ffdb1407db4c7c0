// `<dataDir>/ca.pem`: the trust bundle on disk for local clients (`curl --cacert`, the CLI) and
// the SDK's `ca`: each CA generation's issuing CA and its issuers up to the root (authority.ts).
// Rewritten whenever rotation changes the bundle, through a temporary file and a rename, so a
// reader never sees half a bundle.

import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';

export async function writeBundleFile(path: string, bundlePem: string): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, bundlePem, { mode: 0o600, flag: 'wx' });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
