// The check both secret-based methods share: look the client up, compare against its live
// secrets. An unknown client still pays for one HMAC and one comparison, so both failures take the same time.

import type { SecretHasher } from '../../keys/client-secrets.ts';
import type { Service } from '../../storage/records.ts';
import type { Store } from '../../storage/store.ts';
import { invalidClient } from '../errors.ts';

export interface SecretCheckDeps {
  store: Pick<Store, 'getClientForAuth'>;
  hasher: SecretHasher;
}

/**
 * Compared against when the client is unknown or has no live secret: shaped like a stored hash
 * (32 bytes, base64url), so the comparison decodes and compares as it would for a real one. No
 * secret matches it (that would take finding an HMAC-SHA-256 preimage), and an unknown client
 * fails whatever the comparison says.
 */
const NO_HASHES: readonly string[] = ['A'.repeat(43)];
/** Client ids are printable and short; anything else cannot be one, so it is not looked up. */
const PLAUSIBLE_CLIENT_ID = /^[\x21-\x7e]{1,256}$/;

export async function checkClientSecret(deps: SecretCheckDeps, clientId: string, secret: string, now: number, usedBasic: boolean): Promise<Service> {
  const client = PLAUSIBLE_CLIENT_ID.test(clientId) ? await deps.store.getClientForAuth(clientId, now) : null;
  const hashes = client && client.secrets.length > 0 ? client.secrets.map((s) => s.hash) : NO_HASHES;
  const matches = deps.hasher.matches(secret, hashes);
  if (!client || !matches || secret === '') throw invalidClient(usedBasic);
  return client.service;
}
