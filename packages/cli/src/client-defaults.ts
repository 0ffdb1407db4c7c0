// Defaults for the options every client command shares, for those the command line left out:
// `--server`, `--cacert` and `--credentials` from TESSERA_SERVER, TESSERA_CACERT and
// TESSERA_CREDENTIALS, else from the profile `$XDG_CONFIG_HOME/tessera/cli.json` (else
// `~/.config/tessera/cli.json`): `{"server": …, "cacert": …, "credentials": …}`, its relative
// paths relative to the profile. Precedence: flag > environment > profile (docs/cli.md).
//
// A credential only goes where the operator said: to the server of a flag, a variable or the
// profile, else to the credential file's own tokenEndpoint (the server that wrote it), else to
// the loopback default (credentials.ts: credentialTarget). Nothing here guesses a server from
// anywhere else.
//
// And the bootstrap credential lives in the data dir beside the server's `ca.pem`: when a
// credential file is named and no CA bundle is, a `ca.pem` beside the credential file is trusted
// (in addition to the system roots, as `./.tessera/ca.pem` is), for that file's own server only
// and only when no one else could have put it there (connection.ts: mayTrustImpliedCa).

import path from 'node:path';
import type { Command } from 'commander';

import { mayTrustImpliedCa, parseServerUrl } from './connection.ts';
import { loadCredentials } from './credentials.ts';
import { UsageError } from './errors.ts';
import type { CliIo } from './io.ts';
import { fileExists as exists, readInputFile } from './files.ts';

const NAMES = ['server', 'cacert', 'credentials'] as const;
type Name = (typeof NAMES)[number];
const ENV: Record<Name, string> = { server: 'TESSERA_SERVER', cacert: 'TESSERA_CACERT', credentials: 'TESSERA_CREDENTIALS' };
/** `tessera token`'s other credential forms: with one of them, no default credential file applies. */
const OTHER_CREDENTIAL_OPTIONS = ['clientSecretFile', 'cert', 'key'];

export type Profile = Partial<Record<Name, string>>;

/** Where the profile is read from; null without XDG_CONFIG_HOME and HOME. */
export function profilePath(env: CliIo['env']): string | null {
  const base = env.XDG_CONFIG_HOME || (env.HOME ? path.join(env.HOME, '.config') : '');
  return base === '' ? null : path.join(base, 'tessera', 'cli.json');
}

export async function applyClientDefaults(command: Command, io: CliIo): Promise<void> {
  const holders = new Map<Name, Command>();
  for (const name of NAMES) {
    const holder = holderOf(command, name);
    if (holder !== undefined && holder.getOptionValue(name) === undefined) holders.set(name, holder);
  }
  const credentialsHolder = holderOf(command, 'credentials');
  if (holders.has('credentials') && OTHER_CREDENTIAL_OPTIONS.some((name) => credentialsHolder?.getOptionValue(name) !== undefined)) {
    holders.delete('credentials');
  }
  if (holders.size === 0) return;

  const profile = await readProfile(io);
  for (const [name, holder] of holders) {
    const fromEnv = io.env[ENV[name]];
    const value = fromEnv !== undefined && fromEnv !== '' ? fromEnv : profile.values[name];
    if (value === undefined) continue;
    const source = fromEnv !== undefined && fromEnv !== '' ? ENV[name] : `${profile.file}: ${name}`;
    if (name === 'server') {
      try {
        holder.setOptionValueWithSource(name, parseServerUrl(value), 'env');
      } catch (error) {
        throw new UsageError(`${source}: ${(error as Error).message}, got ${JSON.stringify(value)}`);
      }
    } else {
      holder.setOptionValueWithSource(name, value, 'env');
    }
  }

  // The server's ca.pem beside its bootstrap credential, when no CA bundle was named.
  const credentials = credentialsHolder?.getOptionValue('credentials') as string | undefined;
  const cacertHolder = holderOf(command, 'cacert');
  if (credentials !== undefined && cacertHolder !== undefined && cacertHolder.getOptionValue('cacert') === undefined) {
    const beside = await besideCa(credentials, holderOf(command, 'server')?.getOptionValue('server') as string | undefined, io);
    if (beside !== undefined) cacertHolder.setOptionValue('impliedCacert', beside);
  }
}

/**
 * The ca.pem beside the credential file, when it vouches for the server the file belongs to (the
 * origin of its tokenEndpoint: the CA of the data dir it came from says nothing about another
 * server) and passes mayTrustImpliedCa.
 */
async function besideCa(credentials: string, server: string | undefined, io: CliIo): Promise<string | undefined> {
  const beside = path.join(path.dirname(path.resolve(io.cwd, credentials)), 'ca.pem');
  if (!(await exists(beside))) return undefined;
  // A file that cannot be read or parsed is the command's to report, when it reads it.
  const tokenEndpoint = (await loadCredentials(credentials, io.cwd).catch(() => undefined))?.tokenEndpoint;
  if (tokenEndpoint === undefined) return undefined;
  if (server !== undefined && new URL(server).origin !== tokenEndpoint.origin) return undefined;
  return (await mayTrustImpliedCa(beside, `${beside} (beside the credential file)`, io)) ? beside : undefined;
}

/** The command on the path from `command` up that declares `--<name>` (admin's options sit on `admin`). */
function holderOf(command: Command, name: string): Command | undefined {
  for (let current: Command | null = command; current; current = current.parent) {
    if (current.options.some((option) => option.attributeName() === name)) return current;
  }
  return undefined;
}

async function readProfile(io: CliIo): Promise<{ file: string; values: Profile }> {
  const file = profilePath(io.env);
  if (file === null || !(await exists(file))) return { file: file ?? '', values: {} };
  let value: unknown;
  try {
    value = JSON.parse(await readInputFile(io.cwd, file, 'CLI profile'));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`CLI profile ${file} is not JSON: fix it or remove it`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`CLI profile ${file} is not a JSON object`);
  const values: Profile = {};
  for (const [key, entry] of Object.entries(value as Record<string, unknown>)) {
    if (!(NAMES as readonly string[]).includes(key)) {
      throw new UsageError(`CLI profile ${file}: unknown key ${JSON.stringify(key)}; it may hold ${NAMES.join(', ')}`);
    }
    if (typeof entry !== 'string' || entry === '') throw new UsageError(`CLI profile ${file}: ${key} must be a non-empty string`);
    // Paths in the profile are relative to it, so that it means the same from any directory.
    values[key as Name] = key === 'server' ? entry : path.resolve(path.dirname(file), entry);
  }
  return { file, values };
}
