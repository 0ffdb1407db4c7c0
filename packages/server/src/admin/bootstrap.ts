// First start: the system domain, the bootstrap admin service `sys.auth.admin` with a secret,
// and `sys.auth:role.admin` holding it. The credential goes to a 0600 file and nowhere else —
// never to the log. With several instances on one database, the one whose insert wins writes
// the file; the others find the admin already there.
//
// Only ever once per database: an operator who retired the bootstrap admin (disabled or deleted
// it once named admins exist) must not find it back with a fresh credential after a restart. The
// meta row below records that it was made; `tessera recover-admin` (recover.ts) is the way back in.

import { randomBytes } from 'node:crypto';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SecretHasher } from '../keys/client-secrets.ts';
import { generateClientSecret, generateSecretId } from '../keys/client-secrets.ts';
import { ConflictError } from '../storage/errors.ts';
import type { Store } from '../storage/store.ts';
import { ADMIN_ROLE, SYSTEM_DOMAIN } from './authz.ts';
import { BOOTSTRAP_FILE } from './bootstrap-file.ts';

export const BOOTSTRAP_SERVICE = 'admin';
export const BOOTSTRAP_PRINCIPAL = `${SYSTEM_DOMAIN}.${BOOTSTRAP_SERVICE}`;
export { BOOTSTRAP_FILE };
const ACTOR = { actor: 'system' };

export interface BootstrapResult {
  /** Path of the credential file when this start created the admin; null when it existed. */
  credentialFile: string | null;
  /** True when the bootstrap admin was made by an earlier start and has since been deleted. */
  retired: boolean;
}

/** Set once the bootstrap admin exists; its absence afterwards means it was deleted on purpose. */
export const BOOTSTRAP_META = 'bootstrap_admin_created';

export async function ensureBootstrapAdmin(store: Store, hasher: SecretHasher, dataDir: string, tokenEndpoint: string): Promise<BootstrapResult> {
  if (await store.getService(BOOTSTRAP_PRINCIPAL)) {
    await store.initMeta(BOOTSTRAP_META, 'yes');
    return { credentialFile: null, retired: false };
  }
  if ((await store.getMeta(BOOTSTRAP_META)) !== null) return { credentialFile: null, retired: true };
  // A database from before the meta row: the admin role is made after the admin, so a role without
  // it means the admin was bootstrapped, then deleted.
  if (await store.getRole(SYSTEM_DOMAIN, ADMIN_ROLE, 1)) {
    await store.initMeta(BOOTSTRAP_META, 'yes');
    return { credentialFile: null, retired: true };
  }
  if (!(await store.getDomain(SYSTEM_DOMAIN))) {
    await ignoreConflict(store.createDomain({ name: SYSTEM_DOMAIN, description: 'Tessera system domain' }, ACTOR));
  }
  const clientSecret = generateClientSecret();
  try {
    await store.createService(
      { domain: SYSTEM_DOMAIN, name: BOOTSTRAP_SERVICE, description: 'Bootstrap administrator' },
      { secret: { id: generateSecretId(), hash: hasher.hash(clientSecret) } },
      ACTOR,
    );
  } catch (error) {
    if (error instanceof ConflictError) return { credentialFile: null, retired: false };
    throw error;
  }
  await store.initMeta(BOOTSTRAP_META, 'yes');
  if (!(await store.getRole(SYSTEM_DOMAIN, ADMIN_ROLE))) {
    await store.putRole(SYSTEM_DOMAIN, ADMIN_ROLE, [{ principal: BOOTSTRAP_PRINCIPAL, expiresAt: null }], ACTOR);
  } else {
    await store.putRoleMember(SYSTEM_DOMAIN, ADMIN_ROLE, { principal: BOOTSTRAP_PRINCIPAL, expiresAt: null }, ACTOR);
  }
  const credentialFile = join(dataDir, BOOTSTRAP_FILE);
  const body = JSON.stringify({ clientId: BOOTSTRAP_PRINCIPAL, clientSecret, tokenEndpoint }, null, 2);
  await writeCredentialFile(credentialFile, `${body}\n`);
  return { credentialFile, retired: false };
}

/**
 * The admin was created a moment ago, so whatever is at the file's path is stale. Writing in
 * place would follow a symlink planted there (the secret lands wherever it points) and keep an
 * old file's permissions; a new file written exclusively and renamed over the path replaces
 * either, and is never seen half-written.
 */
async function writeCredentialFile(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(temp, text, { mode: 0o600, flag: 'wx' });
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

async function ignoreConflict(pending: Promise<unknown>): Promise<void> {
  try {
    await pending;
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
  }
}
