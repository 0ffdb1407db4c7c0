// `tessera recover-admin`: the way back in when every admin credential is lost. Whoever can read
// the database and the master key already holds everything Tessera guards, so that access is the
// proof: this runs beside the server (or with it stopped), gives `sys.auth.admin` a new secret and
// makes it an active, unexpired system admin again. Every change goes through the store, so it is
// audited (actor `recover-admin`) and reaches running instances through the change feed.

import { access, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import { createSecretHasher, generateClientSecret, generateSecretId } from '../keys/client-secrets.ts';
import { MasterKeyMismatchError, createSealer } from '../keys/master-key.ts';
import { readMasterKey } from '../keys/master-key-source.ts';
import { ConflictError } from '../storage/errors.ts';
import { TOKEN_PATHS } from '../oauth2/token-endpoint.ts';
import { openStore } from '../storage/open.ts';
import type { SqlDriver } from '../storage/drivers/driver.ts';
import type { Store } from '../storage/store.ts';
import { ADMIN_ROLE, SYSTEM_DOMAIN } from './authz.ts';
import { BOOTSTRAP_FILE, BOOTSTRAP_META, BOOTSTRAP_PRINCIPAL, BOOTSTRAP_SERVICE } from './bootstrap.ts';

const ACTOR = { actor: 'recover-admin' };

export class RecoverAdminError extends Error {}

export interface RecoverAdminOptions {
  /** Where the credential goes; `<data dir>/bootstrap-admin.json` by default. */
  out?: string;
  /** Replace an existing credential file. */
  force?: boolean;
  now?: () => number;
}

export interface RecoverAdminResult {
  principal: string;
  file: string;
  /** What had to change, in words, for the report. */
  changes: string[];
  /** The other members of the system admin role: recovery leaves them as they are, so the operator should review them. */
  otherAdmins: string[];
}

export async function recoverAdmin(config: Config, options: RecoverAdminOptions = {}): Promise<RecoverAdminResult> {
  const now = options.now ?? Date.now;
  const file = options.out ?? join(config.dataDir, BOOTSTRAP_FILE);
  // Read first, so that a wrong key or a missing database changes nothing.
  let masterKey: Buffer;
  try {
    masterKey = await readMasterKey(config.masterKey, { generate: false });
  } catch (error) {
    throw new RecoverAdminError(`cannot read the master key: ${(error as Error).message}`, { cause: error });
  }
  const sealer = createSealer(masterKey);
  if (config.database.kind === 'sqlite') await requireFile(config.database.path);
  // Before any change: the new secret must not be in effect with nowhere to write it.
  if (!options.force && (await exists(file))) {
    throw new RecoverAdminError(`${file} exists; pass --force to replace it, or --out to write the credential elsewhere`);
  }
  // The key is checked against the database as it is, before openStore migrates it: a wrong key
  // (or a newer CLI beside an older server) must change nothing, not even the schema.
  const store = await openStore(config.database, { now, beforeMigrating: (driver) => checkFingerprint(driver, sealer.fingerprint) });
  try {
    const clientSecret = generateClientSecret();
    const tokenEndpoint = `${config.issuer}${TOKEN_PATHS[0]}`;
    const body = JSON.stringify({ clientId: BOOTSTRAP_PRINCIPAL, clientSecret, tokenEndpoint }, null, 2);
    // Written before the secret takes effect (a new secret with nowhere to go would lock everyone
    // out), then renamed into place: a replaced file gets mode 0600 too.
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, `${body}\n`, { mode: 0o600, flag: 'wx' });
    let changes: string[];
    try {
      changes = await restoreAdmin(store, createSecretHasher(masterKey).hash(clientSecret), now());
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    await rename(temporary, file);
    const role = await store.getRole(SYSTEM_DOMAIN, ADMIN_ROLE);
    const otherAdmins = (role?.members ?? []).map((member) => member.principal).filter((principal) => principal !== BOOTSTRAP_PRINCIPAL);
    return { principal: BOOTSTRAP_PRINCIPAL, file, changes, otherAdmins };
  } finally {
    await store.close();
  }
}

async function checkFingerprint(driver: SqlDriver, expected: string): Promise<void> {
  let row: { value: string } | undefined;
  try {
    row = await driver.get<{ value: string }>('SELECT value FROM meta WHERE key = ?', ['master_key_fingerprint']);
  } catch {
    row = undefined;
  }
  if (row === undefined)
    throw new RecoverAdminError('this database was never started by `tessera serve`: there is no admin to recover; start the server instead');
  if (row.value !== expected) {
    throw new MasterKeyMismatchError(
      'the master key differs from the one this database was created with; give the original (TESSERA_MASTER_KEY or --master-key-file)',
    );
  }
}

async function restoreAdmin(store: Store, secretHash: string, now: number): Promise<string[]> {
  const changes: string[] = [];
  if (!(await store.getDomain(SYSTEM_DOMAIN))) {
    await ignoreConflict(store.createDomain({ name: SYSTEM_DOMAIN, description: 'Tessera system domain' }, ACTOR));
    changes.push(`created the domain ${SYSTEM_DOMAIN}`);
  }
  const secret = { id: generateSecretId(), hash: secretHash };
  const service = await store.getService(BOOTSTRAP_PRINCIPAL);
  if (!service) {
    await store.createService({ domain: SYSTEM_DOMAIN, name: BOOTSTRAP_SERVICE, description: 'Bootstrap administrator' }, { secret }, ACTOR);
    changes.push(`created ${BOOTSTRAP_PRINCIPAL}`);
  } else {
    // A grace of zero: whoever holds an older secret of this admin loses it now.
    await store.addClientSecret(BOOTSTRAP_PRINCIPAL, secret, now, ACTOR);
    changes.push(`gave ${BOOTSTRAP_PRINCIPAL} a new secret (its older secrets stopped working)`);
    // Recovery may follow a leak: nothing the intruder could have added to this admin survives.
    for (const key of await store.listPublicKeys(BOOTSTRAP_PRINCIPAL)) {
      await store.deletePublicKey(BOOTSTRAP_PRINCIPAL, key.kid, ACTOR);
      changes.push(`removed its registered key ${key.kid}`);
    }
    for (const apiKey of await store.listApiKeys(BOOTSTRAP_PRINCIPAL)) {
      if (apiKey.revokedAt !== null) continue;
      await store.revokeApiKey(BOOTSTRAP_PRINCIPAL, apiKey.id, ACTOR);
      changes.push(`revoked its API key ${apiKey.id}`);
    }
    // A certificate or join token of this admin would get admin tokens through tls_client_auth.
    const revoked = await store.revokeServiceCertificates(BOOTSTRAP_PRINCIPAL, 'keyCompromise', ACTOR);
    if (revoked > 0) changes.push(`revoked its ${revoked} live certificate${revoked === 1 ? '' : 's'}`);
    for (;;) {
      const page = await store.listJoinTokens(BOOTSTRAP_PRINCIPAL, { limit: 100, now });
      for (const joinToken of page) await store.deleteJoinToken(BOOTSTRAP_PRINCIPAL, joinToken.id, ACTOR);
      if (page.length > 0) changes.push(`deleted ${page.length} outstanding join token${page.length === 1 ? '' : 's'}`);
      if (page.length < 100) break;
    }
    await store.endServiceTokens(BOOTSTRAP_PRINCIPAL, ACTOR);
    changes.push('ended every token it was issued until now');
    const blocked = service.status !== 'ACTIVE' || service.expiresAt !== null || service.allowedIps.length > 0;
    if (blocked) {
      await store.updateService(BOOTSTRAP_PRINCIPAL, { status: 'ACTIVE', expiresAt: null, allowedIps: [] }, ACTOR);
      changes.push(`made ${BOOTSTRAP_PRINCIPAL} active, without expiry or address limits (it was ${describe(service)})`);
    }
  }
  const role = await store.getRole(SYSTEM_DOMAIN, ADMIN_ROLE);
  const member = role?.members.find((m) => m.principal === BOOTSTRAP_PRINCIPAL);
  if (!member || member.expiresAt !== null) {
    if (role) await store.putRoleMember(SYSTEM_DOMAIN, ADMIN_ROLE, { principal: BOOTSTRAP_PRINCIPAL, expiresAt: null }, ACTOR);
    else await store.putRole(SYSTEM_DOMAIN, ADMIN_ROLE, [{ principal: BOOTSTRAP_PRINCIPAL, expiresAt: null }], ACTOR);
    changes.push(`made ${BOOTSTRAP_PRINCIPAL} a member of ${SYSTEM_DOMAIN}:role.${ADMIN_ROLE} without expiry`);
  }
  await store.initMeta(BOOTSTRAP_META, 'yes');
  return changes;
}

function describe(service: { status: string; expiresAt: number | null; allowedIps: string[] }): string {
  const parts = [service.status];
  if (service.expiresAt !== null) parts.push(`expiring ${new Date(service.expiresAt).toISOString()}`);
  if (service.allowedIps.length > 0) parts.push(`limited to ${service.allowedIps.join(', ')}`);
  return parts.join(', ');
}

async function requireFile(path: string): Promise<void> {
  if (!(await exists(path))) throw new RecoverAdminError(`no database at ${path}: check --data-dir (or --database for PostgreSQL)`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function ignoreConflict(pending: Promise<unknown>): Promise<void> {
  try {
    await pending;
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
  }
}
