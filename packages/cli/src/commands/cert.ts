// tessera cert: the `zts-svccert` job (docs/cli.md, docs/certificates.md). Makes a key and a CSR (or uses --key),
// gets a certificate with one proof or renews the current one over mTLS, and replaces key.pem,
// cert.pem, chain.pem and ca.pem in --out-dir atomically. --watch keeps renewing.

import { stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { KEY_TYPES } from '../sdk.ts';
import type { KeyType } from '@tessera/sdk';

import { parseServiceRef } from '../admin/arguments.ts';
import { parsePrivateKey } from '../private-key.ts';
import { DEFAULT_SERVER, addConnectionOptions } from '../connection.ts';
import type { ConnectionFlags } from '../connection.ts';
import { UsageError } from '../errors.ts';
import { readInputFile } from '../files.ts';
import type { CliIo } from '../io.ts';
import { formatJson } from '../output.ts';
import { requireCertificateKey } from '../cert/keys.ts';
import { currentForRenewal, obtainWithProof, outcomeJson, outcomeLine, renewOverMtls } from '../cert/operations.ts';
import type { CertContext, CertPlan, Outcome } from '../cert/operations.ts';
import { certificatePaths, prepareOutDir } from '../cert/out-dir.ts';
import { joinTokenProof, keyAssertionProof, oidcTokenProof, readJoinTokenFile } from '../cert/proofs.ts';
import type { ProofSource } from '../cert/proofs.ts';
import { watchCertificate } from '../cert/watch.ts';

interface CertOptions extends ConnectionFlags {
  principal?: string;
  outDir: string;
  key?: string;
  kid?: string;
  joinToken?: string;
  joinTokenFile?: string;
  oidcTokenFile?: string;
  renew?: boolean;
  rotateKey?: boolean;
  keyType?: KeyType;
  watch?: boolean;
  json?: boolean;
}

const PROOF_FORMS = '--key K --kid ID, --join-token T, --join-token-file F, --oidc-token-file F or --renew';

export function registerCertCommand(program: Command, io: CliIo): void {
  const cert = program
    .command('cert')
    .description('get or renew a service certificate (mTLS identity) and write it to a directory')
    .option('--principal <d.s>', 'the service the certificate is for, e.g. alpha.api (with --renew: the current one)', parsePrincipal)
    .requiredOption('--out-dir <dir>', 'where key.pem, cert.pem, chain.pem and ca.pem are written')
    .option('--key <file>', 'PEM private key for the CSR instead of a new one; with --kid also the proof')
    .option('--kid <id>', 'prove the request with --key, registered on the service under this id')
    .option('--join-token <token>', 'prove the request with a one-time join token')
    .option('--join-token-file <file>', 'the same, read from a file (keeps it out of the process list)')
    .option('--oidc-token-file <file>', 'prove the request with an OIDC token from a trusted issuer (read at each use)')
    .option('--renew', 'renew the certificate in --out-dir over mTLS (same identity)')
    .option('--rotate-key', 'make a new key at renewal instead of keeping the current one')
    .addOption(new Option('--key-type <type>', `type of a new key (default: p256)`).choices([...KEY_TYPES]))
    .option('--watch', 'keep running and renew at about 2/3 of each lifetime')
    .option('--json', 'print {principal, serial, notBefore, notAfter, files} (one line per certificate with --watch)');
  addConnectionOptions(cert)
    .addHelpText(
      'after',
      `
Exactly one proof for the first certificate:
  --key K --kid ID          a key registered on the service (the CSR carries that key)
  --join-token T            a one-time join token (POST /admin/v1/join-tokens); or --join-token-file F
  --oidc-token-file F       an OIDC token, e.g. a Kubernetes service-account token
  --renew                   the current cert.pem and key.pem in --out-dir, over mTLS
Files: key.pem (0600), cert.pem (leaf + intermediates), chain.pem (intermediates + root),
ca.pem (trust bundle). Each is replaced atomically. The server defaults to ${DEFAULT_SERVER}.
--watch starts from a valid cert.pem already in --out-dir instead of spending the proof again.`,
    )
    .action(async (options: CertOptions) => {
      await runCert(options, io);
    });
}

function parsePrincipal(value: string): string {
  parseServiceRef(value);
  if (/\s/.test(value)) throw new InvalidArgumentError('expected <domain>.<service>, e.g. payments.api');
  return value;
}

async function runCert(options: CertOptions, io: CliIo): Promise<void> {
  const plan = await planFrom(options, io);
  const ctx: CertContext = { io, now: io.now ?? Date.now, random: io.random ?? Math.random };
  // --renew reads the directory it is pointed at; only a first certificate may need a new one.
  await prepareOutDir(plan.outDir, plan.proof !== undefined);
  if (options.watch === true) {
    await watchCertificate(plan, ctx, (outcome, renewAt) => {
      const now = new Date(ctx.now()).toISOString();
      if (options.json === true) io.stdout.write(`${JSON.stringify(outcomeJson(plan, outcome, renewAt))}\n`);
      else io.stdout.write(`${now} ${outcomeLine(plan, outcome, io.cwd, renewAt)}\n`);
    });
    return;
  }
  const outcome: Outcome =
    plan.proof === undefined ? await renewOverMtls(plan, await currentForRenewal(plan, ctx), ctx) : await obtainWithProof(plan, plan.proof, ctx);
  io.stdout.write(options.json === true ? formatJson(outcomeJson(plan, outcome)) : `${outcomeLine(plan, outcome, io.cwd)}\n`);
}

/** Checks the flag combination and reads the files it names, before anything is sent. */
async function planFrom(options: CertOptions, io: CliIo): Promise<CertPlan> {
  const renew = options.renew === true;
  const rotateKey = options.rotateKey === true;
  const proofs = [
    options.key !== undefined && options.kid !== undefined ? '--key/--kid' : undefined,
    options.joinToken !== undefined ? '--join-token' : undefined,
    options.joinTokenFile !== undefined ? '--join-token-file' : undefined,
    options.oidcTokenFile !== undefined ? '--oidc-token-file' : undefined,
    renew ? '--renew' : undefined,
  ].filter((proof) => proof !== undefined);
  if (options.kid !== undefined && options.key === undefined) {
    throw new UsageError('--kid needs --key, the private key registered under that id');
  }
  if (proofs.length === 0) throw new UsageError(`no proof: pass ${PROOF_FORMS}`);
  if (proofs.length > 1) throw new UsageError(`${proofs.join(' and ')} are two proofs; pass exactly one of ${PROOF_FORMS}`);
  if (!renew && options.principal === undefined) {
    throw new UsageError('--principal is required: the service the certificate is for, e.g. --principal alpha.api');
  }
  if (renew && options.key !== undefined) {
    throw new UsageError('--renew uses key.pem in --out-dir; drop --key (add --rotate-key for a new key)');
  }
  if (rotateKey && !renew && options.watch !== true) {
    throw new UsageError('--rotate-key is for renewals: add --renew or --watch');
  }
  if (options.keyType !== undefined && !rotateKey && (renew || options.key !== undefined)) {
    throw new UsageError(
      renew
        ? '--key-type is for a new key, but --renew keeps the current one; add --rotate-key'
        : `--key-type is for a new key, but --key ${options.key ?? ''} is used; drop one of them`,
    );
  }
  const server = new URL(options.server ?? DEFAULT_SERVER);
  if ((renew || options.watch === true) && server.protocol !== 'https:') {
    throw new UsageError(`${renew ? '--renew' : '--watch'} needs an https:// server: renewal presents the current certificate in the TLS handshake`);
  }
  const outDir = path.resolve(io.cwd, options.outDir);
  await requireDirectoryOrNothing(outDir, options.outDir);

  const key = options.key === undefined ? undefined : parsePrivateKey(await readInputFile(io.cwd, options.key, 'key file'), options.key);
  if (key !== undefined && options.key !== undefined) requireCertificateKey(key, options.key);
  return {
    principal: options.principal,
    outDir,
    paths: certificatePaths(outDir),
    server,
    connection: options,
    proof: await proofFrom(options, key, io),
    key: options.kid === undefined ? key : undefined,
    keyType: options.keyType,
    rotateKey,
  };
}

async function proofFrom(options: CertOptions, key: CertPlan['key'], io: CliIo): Promise<ProofSource | undefined> {
  const principal = options.principal ?? '';
  if (options.kid !== undefined && key !== undefined) return keyAssertionProof(principal, options.kid, key, options.key ?? '');
  if (options.joinToken !== undefined) return joinTokenProof(options.joinToken, '--join-token');
  if (options.joinTokenFile !== undefined) return readJoinTokenFile(io.cwd, options.joinTokenFile);
  if (options.oidcTokenFile !== undefined) return oidcTokenProof(io.cwd, options.oidcTokenFile);
  return undefined;
}

async function requireDirectoryOrNothing(dir: string, shown: string): Promise<void> {
  const found = await stat(dir).catch(() => undefined);
  if (found !== undefined && !found.isDirectory()) throw new UsageError(`--out-dir ${shown} is not a directory`);
}
