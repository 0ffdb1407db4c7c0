// The two things `tessera cert` does, once or again and again under --watch: get a first
// certificate with a proof, or renew the current one over mTLS. Both end with the files in
// --out-dir replaced atomically and a report of what was written.

import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import { buildCsr, generateKey, keyTypeOf, privateKeyPem } from '../sdk.ts';
import type { KeyType } from '@tessera/sdk';

import { DEFAULT_CA_FILE, openHttpClient } from '../connection.ts';
import type { ConnectionFlags, TlsIdentity } from '../connection.ts';
import { CliError, UsageError } from '../errors.ts';
import { fileExists } from '../files.ts';
import type { HttpClient } from '../http-client.ts';
import type { CliIo } from '../io.ts';
import { certificateEndpoint, obtainCertificate } from './ca-client.ts';
import type { IssuedCertificate } from './ca-client.ts';
import { DEFAULT_KEY_TYPE } from './keys.ts';
import { CERTIFICATE_MODE, KEY_MODE, describeCertificate, readCurrentCertificate, replaceFiles, shownPath } from './out-dir.ts';
import type { CertificatePaths, CurrentCertificate, FileContent } from './out-dir.ts';
import type { ProofSource } from './proofs.ts';

/** Everything the flags decided, checked before anything goes on the wire. */
export interface CertPlan {
  /** Absent only with --renew, where the current certificate names it. */
  principal: string | undefined;
  outDir: string;
  paths: CertificatePaths;
  server: URL;
  connection: ConnectionFlags;
  /** Absent with --renew. */
  proof: ProofSource | undefined;
  /** --key without --kid: the key the first CSR carries instead of a new one. */
  key: KeyObject | undefined;
  /** --key-type, when given. */
  keyType: KeyType | undefined;
  rotateKey: boolean;
}

export interface CertContext {
  io: CliIo;
  now: () => number;
  random: () => number;
}

export interface Outcome {
  how: 'issued' | 'renewed';
  certificate: Pick<CurrentCertificate, 'principal' | 'serial' | 'notBefore' | 'notAfter'>;
}

/** A first certificate (or one after the last expired), proven with the plan's proof. */
export async function obtainWithProof(plan: CertPlan, proof: ProofSource, ctx: CertContext): Promise<Outcome> {
  const principal = requirePrincipal(plan);
  const key = proof.csrKey ?? plan.key ?? (await generateKey(plan.keyType ?? DEFAULT_KEY_TYPE));
  const csr = buildCsr(key, principal);
  const http = await clientFor(plan, ctx.io);
  const issued = await obtainCertificate(http, {
    server: plan.server,
    csr,
    proof: await proof.make(certificateEndpoint(plan.server).href, ctx.now()),
    key,
    now: ctx.now(),
  });
  return { how: 'issued', certificate: await save(plan, issued, key, privateKeyPem(key)) };
}

/** Renewal over mTLS: the current certificate and key on the connection prove the identity. */
export async function renewOverMtls(plan: CertPlan, current: CurrentCertificate, ctx: CertContext): Promise<Outcome> {
  const principal = plan.principal ?? current.principal;
  if (principal === undefined) throw new CliError(`${plan.paths.certificate} has no subject CN; pass --principal`);
  const key = plan.rotateKey ? await generateKey(plan.keyType ?? keyTypeOf(current.key) ?? DEFAULT_KEY_TYPE) : current.key;
  const csr = buildCsr(key, principal);
  const identity: TlsIdentity = { cert: current.certificatePem, key: current.keyPem };
  const http = await clientFor(plan, ctx.io, identity);
  const issued = await obtainCertificate(http, { server: plan.server, csr, key, now: ctx.now() });
  // An unchanged key is not rewritten: one file fewer to swap, and its inode stays put.
  const keyPem = key === current.key ? undefined : privateKeyPem(key);
  return { how: 'renewed', certificate: await save(plan, issued, key, keyPem, current.keyPem) };
}

/**
 * What --renew starts from: cert.pem and key.pem in --out-dir, for the same principal, not yet
 * expired (Tessera renews only an unexpired certificate).
 */
export async function currentForRenewal(plan: CertPlan, ctx: CertContext): Promise<CurrentCertificate> {
  const current = await readCurrentCertificate(plan.outDir, ctx.io.cwd);
  if (plan.principal !== undefined && current.principal !== plan.principal) {
    throw new UsageError(
      `${shownPath(plan.paths.certificate, ctx.io.cwd)} is for ${current.principal ?? 'no CN'}, not ${plan.principal}: renewal keeps the identity`,
    );
  }
  if (current.notAfter <= ctx.now()) throw expiredError(plan, current.notAfter, ctx.io.cwd);
  return current;
}

export function expiredError(plan: CertPlan, notAfter: number, cwd: string): CliError {
  return new CliError(
    `${shownPath(plan.paths.certificate, cwd)} expired at ${new Date(notAfter).toISOString()}; ` +
      'renewal needs an unexpired certificate: get a new one with --key/--kid, --join-token or --oidc-token-file',
  );
}

function requirePrincipal(plan: CertPlan): string {
  if (plan.principal === undefined) throw new CliError('--principal is required');
  return plan.principal;
}

/**
 * The trust anchor for Tessera's own TLS certificate: --cacert, else ./.tessera/ca.pem (as for
 * every command), else the bundle an earlier run wrote to --out-dir, which is Tessera's CA too.
 */
export async function clientFor(plan: CertPlan, io: CliIo, identity?: TlsIdentity): Promise<HttpClient> {
  const useOutDirCa = plan.connection.cacert === undefined && !(await fileExists(path.resolve(io.cwd, DEFAULT_CA_FILE))) && (await fileExists(plan.paths.ca));
  return openHttpClient(useOutDirCa ? { ...plan.connection, cacert: plan.paths.ca } : plan.connection, io, identity);
}

/** The key first: a new certificate is never on disk before the key it belongs to. */
async function save(
  plan: CertPlan,
  issued: IssuedCertificate,
  key: KeyObject,
  keyPem: string | undefined,
  unchangedKeyPem?: string,
): Promise<CurrentCertificate> {
  const files: FileContent[] = [
    ...(keyPem === undefined ? [] : [{ file: plan.paths.key, content: keyPem, mode: KEY_MODE }]),
    { file: plan.paths.certificate, content: issued.certificatePem, mode: CERTIFICATE_MODE },
    { file: plan.paths.chain, content: issued.chainPem, mode: CERTIFICATE_MODE },
    { file: plan.paths.ca, content: issued.caPem, mode: CERTIFICATE_MODE },
  ];
  await replaceFiles(files);
  return {
    certificatePem: issued.certificatePem,
    keyPem: keyPem ?? unchangedKeyPem ?? privateKeyPem(key),
    key,
    leaf: issued.leaf,
    ...describeCertificate(issued.leaf),
  };
}

/** `--json`: one object per certificate written. */
export function outcomeJson(plan: CertPlan, outcome: Outcome, renewAt?: number): Record<string, unknown> {
  const { certificate } = outcome;
  return {
    principal: certificate.principal ?? plan.principal ?? null,
    serial: certificate.serial,
    notBefore: new Date(certificate.notBefore).toISOString(),
    notAfter: new Date(certificate.notAfter).toISOString(),
    ...(renewAt === undefined ? {} : { renewAt: new Date(renewAt).toISOString() }),
    files: { ...plan.paths },
  };
}

export function outcomeLine(plan: CertPlan, outcome: Outcome, cwd: string, renewAt?: number): string {
  const { certificate } = outcome;
  const dir = plan.outDir === cwd ? '.' : shownPath(plan.outDir, cwd);
  const next = renewAt === undefined ? '' : `; next renewal around ${new Date(renewAt).toISOString()}`;
  return (
    `${outcome.how} certificate for ${certificate.principal ?? plan.principal ?? '?'}: serial ${certificate.serial}, ` +
    `valid until ${new Date(certificate.notAfter).toISOString()}, written to ${dir}${next}`
  );
}
