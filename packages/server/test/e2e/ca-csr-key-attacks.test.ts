// Attacks on the CSR key check (ca/csr.ts checkKey): for ECDSA P-256, ECDSA P-384 and Ed25519 the
// CA takes a SubjectPublicKeyInfo of the right length with the right fixed prefix, and the
// certificate carries those bytes as sent. Each case below is an SPKI with that prefix (or a near
// miss) whose key bytes are not a point a certificate may carry, or whose CSR signature only a
// lax verifier accepts, sent through the JSON API, EST and renewal over mutual TLS. Where a
// certificate is issued, Go's crypto/x509 and openssl must read the very key the CSR carried.
//
// The cases that held stay as regression tests (`held:`). The two that did not, both fixed since,
// came from the P-256 point at infinity, which node:crypto reads as a key: the CSR check refused
// it only by its length, after reading it had already spoiled the connection, and the registry
// of service keys did not refuse it at all. Both now refuse it before node:crypto reads it
// (policy/key-types.ts spkiProblem).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { TestResponse } from '@tessera/testkit/https';
import { command, keyAssertion, parseCertificate, sendMtls, serviceKey, type ServiceKey } from '../helpers/ca-client.ts';
import { startTestServer, type TestServer } from '@tessera/testkit/server';
import { hex, tlv } from '../helpers/der.ts';

const run = promisify(execFile);

// --- DER, built by hand (helpers/der.ts) -----------------------------------------------------

const be = (n: bigint, size: number): Buffer => Buffer.from(n.toString(16).padStart(size * 2, '0'), 'hex');

const ECDSA_SHA256 = tlv(0x30, hex('06 08 2a8648ce3d040302'));
const ED25519_ALG = tlv(0x30, hex('06 03 2b6570'));
const RSA_SHA256 = tlv(0x30, hex('06 09 2a864886f70d01010b'), hex('0500'));
const CURVE_ALG = {
  'P-256': hex('3013 06072a8648ce3d0201 06082a8648ce3d030107'),
  'P-384': hex('3010 06072a8648ce3d0201 06052b81040022'),
} as const;
type Curve = keyof typeof CURVE_ALG;
const COORDINATE = { 'P-256': 32, 'P-384': 48 } as const;

/** An SPKI from an AlgorithmIdentifier and the key bytes its BIT STRING holds (DER throughout). */
const spkiOf = (algorithm: Buffer, key: Uint8Array): Buffer => tlv(0x30, algorithm, tlv(0x03, Buffer.of(0), key));
const ecSpki = (curve: Curve, x: bigint, y: bigint, form = 0x04): Buffer =>
  spkiOf(CURVE_ALG[curve], Buffer.concat([Buffer.of(form), be(x, COORDINATE[curve]), be(y, COORDINATE[curve])]));
const ed25519Spki = (key: Uint8Array): Buffer => spkiOf(tlv(0x30, hex('06 03 2b6570')), key);
const spkiDer = (key: KeyObject): Buffer => (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' });

/** The point of a P-256 or P-384 key. */
function pointOf(key: KeyObject): { curve: Curve; x: bigint; y: bigint } {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const number = (b64: string | undefined): bigint => BigInt(`0x${Buffer.from(b64 ?? '', 'base64url').toString('hex')}`);
  return { curve: jwk.crv === 'P-384' ? 'P-384' : 'P-256', x: number(jwk.x), y: number(jwk.y) };
}

/** CertificationRequestInfo: version 0, subject CN=alpha.api, the SPKI, no attributes. */
const infoOf = (spki: Buffer): Buffer =>
  tlv(0x30, hex('020100'), tlv(0x30, tlv(0x31, tlv(0x30, hex('06 03 550403'), tlv(0x0c, Buffer.from('alpha.api'))))), spki, tlv(0xa0));
const csrOf = (info: Buffer, algorithm: Buffer, signature: Uint8Array): Buffer => tlv(0x30, info, algorithm, tlv(0x03, Buffer.of(0), signature));

/** A CSR carrying `spki` (by default `key`'s own), signed by `key` whatever `spki` holds. */
function signedCsr(key: KeyObject, spki: Buffer = spkiDer(key), algorithm?: Buffer): Buffer {
  const info = infoOf(spki);
  const ed25519 = key.asymmetricKeyType === 'ed25519';
  const signature = sign(ed25519 ? null : key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'sha384' : 'sha256', info, { key, dsaEncoding: 'der' });
  const fallback = ed25519 ? ED25519_ALG : key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? tlv(0x30, hex('06 08 2a8648ce3d040303')) : ECDSA_SHA256;
  return csrOf(info, algorithm ?? fallback, signature);
}

const pem = (der: Uint8Array): string =>
  `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;

// --- The NIST curves: points with one small coordinate, so that it plus p fits the field's width ---

const NIST = {
  'P-256': {
    p: BigInt('0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff'),
    smallX: { x: 0n, y: BigInt('0x66485c780e2f83d72433bd5d84a06bb6541c2af31dae871728bf856a174f93f4') },
    smallY: { x: BigInt('0x09e78d4ef60d05f750f6636209092bc43cbdd6b47e11a9de20a9feb2a50bb96c'), y: 1n },
  },
  'P-384': {
    p: BigInt('0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff'),
    smallX: { x: 0n, y: BigInt('0xc306610fb0ae5a159cf45c06069f22a6c5eb3641c602d42dea2c4b4f75550793406d80d2b91ad54f9048bd487af1ade1') },
    smallY: { x: BigInt('0x2261b2bf605c22f2f3aef6338719b2c486388ad5240719a5257315969ef01ba27f0a104c89704773a81fdabee6ab5c78'), y: 1n },
  },
} as const;

// --- Ed25519 by hand (RFC 8032), to sign for keys node:crypto cannot hold ----------------------

const ED_P = (1n << 255n) - 19n;
const ED_L = (1n << 252n) + 27742317777372353535851937790883648493n;
const fmod = (a: bigint, m = ED_P): bigint => ((a % m) + m) % m;
function fpow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  for (let b = fmod(base), e = exponent; e > 0n; e >>= 1n, b = (b * b) % ED_P) if (e & 1n) result = (result * b) % ED_P;
  return result;
}
const finv = (a: bigint): bigint => fpow(a, ED_P - 2n);
const ED_D = fmod(-121665n * finv(121666n));
const SQRT_M1 = fpow(2n, (ED_P - 1n) / 4n);
/** Extended coordinates (X, Y, Z, T). */
type Point = readonly [bigint, bigint, bigint, bigint];
const IDENTITY: Point = [0n, 1n, 1n, 0n];
function add(a: Point, b: Point): Point {
  const [A, B] = [fmod((a[1] - a[0]) * (b[1] - b[0])), fmod((a[1] + a[0]) * (b[1] + b[0]))];
  const [C, D] = [fmod(2n * a[3] * b[3] * ED_D), fmod(2n * a[2] * b[2])];
  const [E, F, G, H] = [B - A, D - C, D + C, B + A];
  return [fmod(E * F), fmod(G * H), fmod(F * G), fmod(E * H)];
}
function times(k: bigint, point: Point): Point {
  let result = IDENTITY;
  for (let p = point, e = k; e > 0n; e >>= 1n, p = add(p, p)) if (e & 1n) result = add(result, p);
  return result;
}
const negate = (p: Point): Point => [fmod(-p[0]), p[1], p[2], fmod(-p[3])];
const same = (a: Point, b: Point): boolean => fmod(a[0] * b[2] - b[0] * a[2]) === 0n && fmod(a[1] * b[2] - b[1] * a[2]) === 0n;
const le = (n: bigint): Buffer => Buffer.from(be(n, 32)).reverse();
const fromLe = (bytes: Uint8Array): bigint => BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`);
/** Decodes as ref10 and OpenSSL do: y reduced mod p, no check that it was below p or that x = 0 has sign 0. */
function decode(bytes: Uint8Array): Point {
  const y = fmod(fromLe(bytes) & ((1n << 255n) - 1n));
  const xx = fmod((y * y - 1n) * finv(ED_D * y * y + 1n));
  let x = fpow(xx, (ED_P + 3n) / 8n);
  if (fmod(x * x - xx) !== 0n) x = fmod(x * SQRT_M1);
  assert.equal(fmod(x * x - xx), 0n, 'not a point');
  if (Number(x & 1n) !== (bytes[31] ?? 0) >> 7) x = fmod(-x);
  return [x, y, 1n, fmod(x * y)];
}
function encode(point: Point): Buffer {
  const zi = finv(point[2]);
  const [x, y] = [fmod(point[0] * zi), fmod(point[1] * zi)];
  const out = le(y);
  out[31]! |= Number(x & 1n) << 7;
  return out;
}
const BASE = decode(le(fmod(4n * finv(5n))));
const hram = (...parts: Uint8Array[]): bigint => fmod(fromLe(createHash('sha512').update(Buffer.concat(parts)).digest()), ED_L);

/**
 * A signature over `message` that passes the cofactorless check [S]B = R + [k]A for the key
 * bytes `key`, whose point is [a]B + T with T of small order: R = [r]B - [j]T for the j with
 * [k]T = [j]T, so S = r + k·a. With a = 0 it "signs" for a small-order key nobody holds.
 */
function forgeEd25519(key: Uint8Array, a: bigint, torsion: Point, message: Uint8Array): Buffer {
  for (let r = 1n; ; r += 1n) {
    for (let j = 0n; j < 8n; j += 1n) {
      const R = encode(add(times(r, BASE), negate(times(j, torsion))));
      const k = hram(R, key, message);
      if (same(times(k, torsion), times(j, torsion))) return Buffer.concat([R, le(fmod(r + k * a, ED_L))]);
    }
  }
}
/** A point of order exactly 8: the small-order part of some point, [L]P. */
function orderEight(): Point {
  for (let y = 2n; ; y += 1n) {
    let point: Point;
    try {
      point = decode(le(y));
    } catch {
      continue;
    }
    const torsion = times(ED_L, point);
    if (!same(times(4n, torsion), IDENTITY)) return torsion;
  }
}

/** A CSR for the Ed25519 key bytes `key` (point [a]B + torsion), with a signature only a cofactorless check needs. */
function forgedEd25519Csr(key: Buffer, a: bigint, torsion: Point): { csr: Buffer; info: Buffer; signature: Buffer } {
  const info = infoOf(ed25519Spki(key));
  const signature = forgeEd25519(key, a, torsion, info);
  return { csr: csrOf(info, ED25519_ALG, signature), info, signature };
}

// --- Go's crypto/x509 and crypto/ed25519 ---------------------------------------------------

const GO_SOURCE =
  `package main

// keys <input.json>: the SPKI Go reads from each certificate, and whether crypto/ed25519 verifies each signature.
// mtls <cert.der> <ca.pem> <url> <form>: POSTs the form over mutual TLS presenting the certificate, whose
// key is the P-256 point at infinity, signing the handshake as r = x([7]G) mod n, s = e/7 mod n.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
)

type input struct {
	Certificates []string ` +
  '`json:"certificates"`' +
  `
	Signatures   []struct{ Key, Message, Signature string } ` +
  '`json:"signatures"`' +
  `
}

type output struct {
	Keys     []string ` +
  '`json:"keys"`' +
  `
	Verified []bool   ` +
  '`json:"verified"`' +
  `
}

type infinity struct{}

func (infinity) Public() crypto.PublicKey {
	return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int), Y: new(big.Int)}
}

func (infinity) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	curve := elliptic.P256()
	n := curve.Params().N
	k := big.NewInt(7)
	x, _ := curve.ScalarBaseMult(k.Bytes())
	e := new(big.Int).SetBytes(digest)
	if len(digest)*8 > n.BitLen() {
		e.Rsh(e, uint(len(digest)*8-n.BitLen()))
	}
	s := new(big.Int).Mul(e, new(big.Int).ModInverse(k, n))
	return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).Mod(x, n), s.Mod(s, n)})
}

func mtls() {
	der, _ := os.ReadFile(os.Args[2])
	caPem, _ := os.ReadFile(os.Args[3])
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:    roots,
		ServerName: "localhost",
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: infinity{}}, nil
		},
	}}}
	res, err := client.Post(os.Args[4], "application/x-www-form-urlencoded", strings.NewReader(os.Args[5]))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.StatusCode, string(body))
}

func main() {
	if os.Args[1] == "mtls" {
		mtls()
		return
	}
	data, _ := os.ReadFile(os.Args[2])
	var in input
	if err := json.Unmarshal(data, &in); err != nil {
		panic(err)
	}
	out := output{Keys: []string{}, Verified: []bool{}}
	for _, text := range in.Certificates {
		block, _ := pem.Decode([]byte(text))
		certificate, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			out.Keys = append(out.Keys, "refused: "+err.Error())
			continue
		}
		der, err := x509.MarshalPKIXPublicKey(certificate.PublicKey)
		if err != nil {
			out.Keys = append(out.Keys, "refused: "+err.Error())
			continue
		}
		out.Keys = append(out.Keys, hex.EncodeToString(der))
	}
	for _, s := range in.Signatures {
		key, _ := hex.DecodeString(s.Key)
		message, _ := hex.DecodeString(s.Message)
		signature, _ := hex.DecodeString(s.Signature)
		out.Verified = append(out.Verified, ed25519.Verify(ed25519.PublicKey(key), message, signature))
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}
`;

interface GoInput {
  certificates?: string[];
  signatures?: { Key: string; Message: string; Signature: string }[];
}
interface GoTool {
  read(input: GoInput): Promise<{ keys: string[]; verified: boolean[] }>;
  /** The answer (status and body) to `form` POSTed to `url` over mutual TLS with `certificate`, signed for the point at infinity. */
  infinityMtls(certificate: Buffer, caPem: string, url: string, form: string): Promise<string>;
}

/** Builds the Go helper; null (and the Go half of a check skipped) when there is no Go and none is required. */
async function buildGo(dir: string): Promise<GoTool | null> {
  const env =
    process.env.GOCACHE || process.env.HOME || process.env.XDG_CACHE_HOME ? process.env : { ...process.env, GOCACHE: join(tmpdir(), 'tessera-go-cache') };
  const source = join(dir, 'keys.go');
  const binary = join(dir, 'keys');
  await writeFile(source, GO_SOURCE);
  try {
    await run('go', ['build', '-o', binary, source], { env, cwd: dir });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (process.env.TESSERA_REQUIRE_GO === '1') throw new Error('TESSERA_REQUIRE_GO=1 but no `go` on PATH', { cause: error });
    return null;
  }
  let count = 0;
  const file = async (name: string, content: string | Buffer): Promise<string> => {
    count += 1;
    const path = join(dir, `${count}-${name}`);
    await writeFile(path, content);
    return path;
  };
  return {
    async read(input) {
      // Asynchronously: the server under test runs in this very process.
      const { stdout } = await run(binary, ['keys', await file('input.json', JSON.stringify(input))]);
      return JSON.parse(stdout) as { keys: string[]; verified: boolean[] };
    },
    async infinityMtls(certificate, caPem, url, form) {
      const { stdout } = await run(binary, ['mtls', await file('leaf.der', certificate), await file('ca.pem', caPem), url, form]);
      return stdout.trim();
    },
  };
}

// ---------------------------------------------------------------------------------------------

describe('attacks on the key a CSR carries (fixed-prefix SubjectPublicKeyInfo check)', () => {
  let t: TestServer;
  let owner: ServiceKey;
  let audience: string;
  let work: string;
  let go: GoTool | null = null;

  const post = async (csr: Uint8Array, proof: { type: string; value: string }): Promise<TestResponse> =>
    // A connection of its own: a refused CSR may spoil the connection it came by (the HOLE below).
    t.send('/ca/v1/certificates', {
      agent: false,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: pem(csr), proof }),
    });
  /** Sent with a valid key assertion by the service's registered key: only the CSR can be wrong. */
  const viaAssertion = async (csr: Uint8Array): Promise<TestResponse> =>
    post(csr, { type: 'key-assertion', value: await keyAssertion(owner, 'alpha.api', audience) });
  const joinToken = async (): Promise<string> => {
    const res = await t.admin$('POST', '/join-tokens', { principal: 'alpha.api' });
    assert.equal(res.status, 201, res.text);
    return res.json.token as string;
  };
  const refused = (res: TestResponse, message: RegExp, what: string): void => {
    assert.equal(res.status, 400, `${what}: ${res.text}`);
    assert.equal(res.json.error, 'invalid_request', `${what}: ${res.text}`);
    assert.match(res.json.message, message, what);
  };
  const NOT_A_KEY = /public key is of a type Tessera does not certify/;
  const NOT_DER = /public key is not encoded as a certificate must carry it/;
  const NO_POINT = /the CSR's key is an EC point at infinity or in no standard form, which is no public key; send the public key of a key pair you hold/;
  const NOT_SIGNED = /CSR signature does not verify with the key it carries/;

  /** The SPKI `openssl x509 -pubkey` reads from a certificate (re-encoded from the key it parsed). */
  const opensslKey = async (certificatePem: string): Promise<Buffer> => {
    const file = join(work, `leaf-${createHash('sha256').update(certificatePem).digest('hex').slice(0, 12)}.pem`);
    await writeFile(file, certificatePem);
    const out = await command('openssl', ['x509', '-noout', '-pubkey', '-in', file]);
    return Buffer.from(out.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tessera-csr-attacks-'));
    go = await buildGo(work);
    owner = await serviceKey('ec');
    t = await startTestServer();
    audience = `${t.url}/ca/v1/certificates`;
    assert.equal((await t.admin$('POST', '/domains', { name: 'alpha' })).status, 201);
    const created = await t.admin$('POST', '/domains/alpha/services', { name: 'api', publicKeys: [{ kid: 'k1', pem: owner.publicPem }] });
    assert.equal(created.status, 201, created.text);
  });
  after(async () => {
    await t.stop();
    await rm(work, { recursive: true, force: true });
  });

  // held: node:crypto (OpenSSL) refuses to read a point off the curve or with a coordinate >= p, so
  // the fixed prefix never lets one through.
  it('held: refuses P-256 and P-384 points off the curve, the all-zero and all-ones points, and x or y >= p', async () => {
    for (const curve of ['P-256', 'P-384'] as const) {
      const key = generateKeyPairSync('ec', { namedCurve: curve }).privateKey;
      const { x, y } = pointOf(key);
      const { p, smallX, smallY } = NIST[curve];
      const size = COORDINATE[curve];
      const cases: [string, Buffer][] = [
        ['off the curve (y + 1)', ecSpki(curve, x, (y + 1n) % p)],
        ['the all-zero point', ecSpki(curve, 0n, 0n)],
        ['all ones', ecSpki(curve, (1n << BigInt(8 * size)) - 1n, (1n << BigInt(8 * size)) - 1n)],
        ['x + p', ecSpki(curve, smallX.x + p, smallX.y)],
        ['y + p', ecSpki(curve, smallY.x, smallY.y + p)],
        ['off the curve (the low bit of y flipped)', ecSpki(curve, x, y ^ 1n)],
      ];
      for (const [what, spki] of cases) {
        assert.equal(spki.length, curve === 'P-256' ? 91 : 120, 'the fixed length');
        refused(await viaAssertion(signedCsr(key, spki)), NOT_A_KEY, `${curve} ${what}`);
      }
      // The same two points written canonically are keys node reads: only the signature stops them
      // (no one knows their private keys), so x + p and y + p above were refused for their encoding.
      refused(await viaAssertion(signedCsr(key, ecSpki(curve, smallX.x, smallX.y))), NOT_SIGNED, `${curve} small x`);
      refused(await viaAssertion(signedCsr(key, ecSpki(curve, smallY.x, smallY.y))), NOT_SIGNED, `${curve} small y`);
    }
  });

  // held: node:crypto reads the point at infinity (a BIT STRING of one 0x00) as a P-256 or P-384 key
  // (exporting it as JWK threw: a 500), so it is refused before it is read; a body of the other
  // curve's size is either not DER or not a point of the named curve.
  it("held: refuses the point at infinity's encodings, and a P-256 prefix with a P-384 body and the reverse", async () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    const a = pointOf(p256);
    const b = pointOf(p384);
    for (const key of [p256, p384]) {
      const infinity = createPublicKey({ key: spkiOf(CURVE_ALG[pointOf(key).curve], Buffer.of(0)), format: 'der', type: 'spki' });
      assert.equal(infinity.asymmetricKeyType, 'ec', 'node:crypto reads the point at infinity as a key');
    }
    const NOT_READ =
      /public key is of a type Tessera does not certify|public key is not encoded as a certificate must carry it|not a PKCS#10 certificate request|truncated/;
    const infinities: [string, KeyObject, Buffer][] = [
      ['P-256 infinity (0x00)', p256, spkiOf(CURVE_ALG['P-256'], Buffer.of(0))],
      ['P-384 infinity (0x00)', p384, spkiOf(CURVE_ALG['P-384'], Buffer.of(0))],
      ['P-256 0x04 alone', p256, spkiOf(CURVE_ALG['P-256'], Buffer.of(4))],
      ['P-256 infinity padded to length', p256, spkiOf(CURVE_ALG['P-256'], Buffer.concat([Buffer.of(0), Buffer.alloc(64)]))],
    ];
    for (const [what, key, spki] of infinities) refused(await viaAssertion(signedCsr(key, spki)), NO_POINT, what);
    const cases: [string, KeyObject, Buffer][] = [
      // Well-formed DER: the curve named, the other curve's point.
      ['P-256 named, P-384 point', p384, spkiOf(CURVE_ALG['P-256'], Buffer.concat([Buffer.of(4), be(b.x, 48), be(b.y, 48)]))],
      ['P-384 named, P-256 point', p256, spkiOf(CURVE_ALG['P-384'], Buffer.concat([Buffer.of(4), be(a.x, 32), be(a.y, 32)]))],
      // The other curve's body spliced after the fixed prefix (lengths as the prefix says).
      ['P-256 prefix, P-384 body', p384, Buffer.concat([spkiDer(p256).subarray(0, 27), be(b.x, 48), be(b.y, 48)])],
      ['P-384 prefix, P-256 body', p256, Buffer.concat([spkiDer(p384).subarray(0, 24), be(a.x, 32), be(a.y, 32)])],
    ];
    for (const [what, key, spki] of cases) refused(await viaAssertion(signedCsr(key, spki)), NOT_READ, what);
  });

  // held: OpenSSL reads a hybrid point (0x06/0x07 || x || y) as the very key, at the DER length;
  // it is refused as a point in no standard form (Go's crypto/x509 would not parse it).
  it('held: refuses a hybrid-form point node:crypto reads as the signing key itself, at the fixed length', async () => {
    for (const curve of ['P-256', 'P-384'] as const) {
      const key = generateKeyPairSync('ec', { namedCurve: curve }).privateKey;
      const { x, y } = pointOf(key);
      const hybrid = ecSpki(curve, x, y, 0x06 | Number(y & 1n));
      assert.ok(createPublicKey({ key: hybrid, format: 'der', type: 'spki' }).equals(createPublicKey(key)), 'node reads the same key');
      refused(await viaAssertion(signedCsr(key, hybrid)), NO_POINT, `${curve} hybrid`);
    }
  });

  // held: Ed25519 keys of small order, canonical or not, "signed" so that Go's crypto/ed25519
  // verifies the CSR: node:crypto's OpenSSL refuses small-order keys, so no one gets a certificate
  // for a key whose signatures anyone can make.
  it('held: refuses small-order Ed25519 keys (identity, orders 2, 4 and 8) and their non-canonical encodings, whose CSR signatures Go verifies', async () => {
    const order2 = decode(le(ED_P - 1n));
    const order4 = decode(le(0n));
    const order8 = orderEight();
    const negativeZero = le(1n);
    negativeZero[31]! |= 0x80;
    const order4Negative = le(0n);
    order4Negative[31]! |= 0x80;
    const keys: [string, Buffer, Point][] = [
      ['identity', encode(IDENTITY), IDENTITY],
      ['identity as y = p + 1', le(ED_P + 1n), IDENTITY],
      ['identity as x = -0', negativeZero, IDENTITY],
      ['order 2', encode(order2), order2],
      ['order 4', encode(order4), order4],
      ['order 4, the other sign', order4Negative, decode(order4Negative)],
      ['order 4 as y = p', le(ED_P), order4],
      ['order 8', encode(order8), order8],
      ['order 8, negated', encode(negate(order8)), negate(order8)],
    ];
    const signatures: GoInput['signatures'] = [];
    for (const [what, key, torsion] of keys) {
      const { csr, info, signature } = forgedEd25519Csr(key, 0n, torsion);
      signatures.push({ Key: key.toString('hex'), Message: info.toString('hex'), Signature: signature.toString('hex') });
      refused(await viaAssertion(csr), NOT_SIGNED, `Ed25519 ${what}`);
    }
    if (go)
      assert.deepEqual(
        (await go.read({ signatures })).verified,
        keys.map(() => true),
        "Go's crypto/ed25519 verifies every one of these CSRs",
      );
  });

  // held: a key for a signature algorithm of another kind, and every key type outside the table, is a 400.
  it('held: refuses a signature algorithm that does not fit the key, and key types outside the table, with a 400', async () => {
    const ed = generateKeyPairSync('ed25519').privateKey;
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    const info = infoOf(spkiDer(ed));
    refused(await viaAssertion(csrOf(info, ECDSA_SHA256, sign(null, info, ed))), /signature algorithm does not fit its ed25519 key/, 'Ed25519 + ECDSA');
    refused(await viaAssertion(signedCsr(p256, spkiDer(p256), ED25519_ALG)), /does not fit its ec key/, 'P-256 + Ed25519');
    refused(await viaAssertion(signedCsr(p384, spkiDer(p384), RSA_SHA256)), /does not fit its ec key/, 'P-384 + RSA');
    // An Ed25519 key's SPKI signed by a P-256 key under the ECDSA algorithm, and the reverse.
    refused(await viaAssertion(signedCsr(p256, spkiDer(ed), ECDSA_SHA256)), /does not fit its ed25519 key/, 'P-256 signs for Ed25519 key');
    refused(await viaAssertion(signedCsr(ed, spkiDer(p256), ED25519_ALG)), /does not fit its ec key/, 'Ed25519 signs for P-256 key');

    const others: [string, KeyObject][] = [
      ['x25519', generateKeyPairSync('x25519').publicKey],
      ['ed448', generateKeyPairSync('ed448').publicKey],
      ['secp256k1', generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey],
      ['P-521', generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey],
      ['rsa-pss', generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey],
    ];
    for (const [what, key] of others) refused(await viaAssertion(signedCsr(p256, spkiDer(key))), /the CSR's key is /, what);
    // A P-256 point under id-ecDH (1.3.132.1.12) rather than id-ecPublicKey, its BIT STRING whole,
    // and with the BIT STRING's header left out (no SubjectPublicKeyInfo at all).
    const point = spkiDer(p256).subarray(spkiDer(p256).length - 68);
    const ecdh = tlv(0x30, tlv(0x30, hex('06052b8104010c 06082a8648ce3d030107')), point);
    refused(await viaAssertion(signedCsr(p256, ecdh)), NOT_A_KEY, 'id-ecDH');
    const headless = tlv(0x30, tlv(0x30, hex('06052b8104010c 06082a8648ce3d030107')), point.subarray(2));
    refused(await viaAssertion(signedCsr(p256, headless)), NOT_DER, 'id-ecDH without a BIT STRING');
  });

  // held: EST and renewal read the CSR with the same parser, before the proof, so a refused key
  // neither gets a certificate nor spends the join token.
  it('held: the same keys are refused through EST simpleenroll and renewal over mutual TLS, without spending the join token', async () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const { x, y } = pointOf(p256);
    const bad: [string, Buffer][] = [
      ['off the curve', signedCsr(p256, ecSpki('P-256', x, (y + 1n) % NIST['P-256'].p))],
      ['x + p', signedCsr(p256, ecSpki('P-256', NIST['P-256'].smallX.x + NIST['P-256'].p, NIST['P-256'].smallX.y))],
      ['hybrid', signedCsr(p256, ecSpki('P-256', x, y, 0x06 | Number(y & 1n)))],
      ['Ed25519 identity', forgedEd25519Csr(encode(IDENTITY), 0n, IDENTITY).csr],
    ];
    const token = await joinToken();
    const est = (csr: Buffer): Promise<TestResponse> =>
      t.send('/.well-known/est/simpleenroll', {
        method: 'POST',
        headers: { 'content-type': 'application/pkcs10', authorization: `Bearer ${token}` },
        body: csr.toString('base64'),
      });
    for (const [what, csr] of bad) {
      const res = await est(csr);
      assert.equal(res.status, 400, `EST ${what}: ${res.text}`);
      assert.match(res.text, /public key|signature does not verify/, `EST ${what}`);
    }
    const enrolled = await est(signedCsr(p256));
    assert.equal(enrolled.status, 200, `the join token still works: ${enrolled.text}`);

    // Renewal over mutual TLS: a certificate from a join token, then the bad CSRs presenting it.
    const first = await post(signedCsr(p256), { type: 'join-token', value: await joinToken() });
    assert.equal(first.status, 201, first.text);
    const privatePem = p256.export({ type: 'pkcs8', format: 'pem' }) as string;
    for (const [what, csr] of bad) {
      const res = await sendMtls(`${t.url}/ca/v1/certificates`, {
        ca: t.ca,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ csr: pem(csr) }),
        cert: `${first.json.certificate as string}${first.json.chain as string}`,
        key: privatePem,
      });
      refused(res, /public key|signature does not verify/, `renewal ${what}`);
    }
  });

  // held: what the certificate carries is the CSR's SPKI byte for byte, and Go and openssl read it
  // as that same key, for each type and for an Ed25519 point with a torsion component (a valid point
  // whose holder can sign, which every verifier reads alike).
  it('held: an issued certificate carries the CSR key byte for byte, and Go and openssl read that same key', async (context) => {
    const a = 0x1234567890abcdefn;
    const mixed = encode(add(times(a, BASE), orderEight()));
    const csrs: [string, Buffer, Buffer][] = [];
    for (const curve of ['P-256', 'P-384'] as const) {
      const key = generateKeyPairSync('ec', { namedCurve: curve }).privateKey;
      csrs.push([curve, signedCsr(key), spkiDer(key)]);
    }
    const ed = generateKeyPairSync('ed25519').privateKey;
    csrs.push(['Ed25519', signedCsr(ed), spkiDer(ed)]);
    csrs.push(['Ed25519 with a torsion component', forgedEd25519Csr(mixed, a, orderEight()).csr, ed25519Spki(mixed)]);

    const certificates: string[] = [];
    for (const [what, csr, spki] of csrs) {
      const res = await post(csr, { type: 'join-token', value: await joinToken() });
      assert.equal(res.status, 201, `${what}: ${res.text}`);
      const certificate = res.json.certificate as string;
      certificates.push(certificate);
      assert.deepEqual(Buffer.from(parseCertificate(certificate).publicKey.rawData), spki, `${what}: the certificate's SPKI`);
      assert.deepEqual(await opensslKey(certificate), spki, `${what}: the key openssl reads`);
    }
    if (!go) return context.skip('no Go toolchain');
    const { keys } = await go.read({ certificates });
    assert.deepEqual(
      keys,
      csrs.map(([, , spki]) => spki.toString('hex')),
      "the key Go's crypto/x509 reads",
    );
  });
  // The point at infinity again: node:crypto reads it as a P-256 key, and reading its
  // asymmetricKeyDetails leaves OpenSSL's "point2oct: invalid form" on the thread's error queue;
  // the server's next TLS read on that connection takes it for its own failure. No proof is
  // needed: the CSR is read first. Found by this review and fixed: the next request on that
  // keep-alive connection got a 400 "malformed HTTP request" with OpenSSL's error text (another
  // client's request, behind a proxy that reuses upstream connections).
  it('a CSR carrying the point at infinity leaves the next request on its connection unharmed', async () => {
    const infinity = spkiOf(CURVE_ALG['P-256'], Buffer.of(0));
    const body = JSON.stringify({
      csr: pem(signedCsr(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, infinity)),
      proof: { type: 'join-token', value: 'x' },
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      assert.equal((await t.send('/.well-known/est/cacerts', { agent })).status, 200);
      refused(await t.send('/ca/v1/certificates', { agent, method: 'POST', headers: { 'content-type': 'application/json' }, body }), NO_POINT, 'the CSR');
      const next = await t.send('/.well-known/est/cacerts', { agent });
      assert.equal(next.status, 200, `the next request on the connection: ${next.text.slice(0, 200)}`);
    } finally {
      agent.destroy();
    }
  });

  // The registry of service keys (private_key_jwt, self_signed_tls_client_auth, key assertions)
  // took any key node:crypto reads, the point at infinity included, and OpenSSL's ECDSA verify
  // accepts (r, s) = (x([k]G), e/k) for every message under it, in a TLS handshake too. Found by
  // this review and fixed (parsePublicKeyPem, which every registered key also passes when it is
  // read for use): the admin API registered it, and then anyone, holding nothing, got that
  // service's tokens with self_signed_tls_client_auth.
  it('refuses to register the P-256 point at infinity as a service key, for which anyone signs a TLS handshake', async () => {
    const infinity = spkiOf(CURVE_ALG['P-256'], Buffer.of(0));
    const infinityPem = `-----BEGIN PUBLIC KEY-----\n${infinity.toString('base64')}\n-----END PUBLIC KEY-----\n`;
    assert.equal((await t.admin$('POST', '/domains', { name: 'beta' })).status, 201);
    assert.equal((await t.admin$('POST', '/domains/alpha/services', { name: 'open' })).status, 201);
    assert.equal((await t.admin$('PUT', '/domains/beta/roles/readers', { members: [{ principal: 'alpha.open' }] })).status, 201);
    // On a connection of its own: reading this key spoils the connection it came by (above).
    const registered = await t.send('/admin/v1/domains/alpha/services/open/keys/inf', {
      agent: false,
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await t.adminToken()}` },
      body: JSON.stringify({ pem: infinityPem }),
    });
    if (registered.status < 300 && go) {
      // A self-signed certificate for that key (its own signature is never checked), presented by a
      // client that signs the handshake for the point at infinity.
      const utc = (at: number): Buffer => tlv(0x17, Buffer.from(`${new Date(at).toISOString().replace(/[-:T]/g, '').slice(2, 14)}Z`));
      const name = tlv(0x30, tlv(0x31, tlv(0x30, hex('06 03 550403'), tlv(0x0c, Buffer.from('alpha.open')))));
      const validity = tlv(0x30, utc(Date.now() - 3_600_000), utc(Date.now() + 3_600_000));
      const tbs = tlv(0x30, tlv(0xa0, hex('020102')), hex('0208 0102030405060708'), ECDSA_SHA256, name, validity, name, infinity);
      const certificate = tlv(0x30, tbs, ECDSA_SHA256, tlv(0x03, hex('00 3006020101020101')));
      const form = new URLSearchParams({ grant_type: 'client_credentials', scope: 'beta:domain', client_id: 'alpha.open' }).toString();
      const answer = await go.infinityMtls(certificate, t.ca, `${t.url}/oauth2/token`, form);
      assert.fail(`the point at infinity was registered (${registered.status}); a client holding no key then got: ${answer.slice(0, 100)}`);
    }
    assert.equal(registered.status, 400, registered.text);
  });
});
