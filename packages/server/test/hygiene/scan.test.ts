// The hygiene scanner itself: it must find a planted secret of each kind, in a log line and in
// an audit record, and pass clean evidence; otherwise the hygiene check proves nothing.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { generateApiKey } from '../../src/keys/api-keys.ts';
import { generateJoinToken } from '../../src/keys/join-tokens.ts';
import { findSecret, scanEvidence } from './scan.ts';

describe('secrets-hygiene scanner', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('finds every kind of secret by its shape', async () => {
    const jwt = await new SignJWT({ scope: 'a:domain' }).setProtectedHeader({ alg: 'HS256' }).setSubject('a.b').sign(Buffer.alloc(32, 1));
    const cases: Record<string, string> = {
      JWT: `{"msg":"request","auth":"Bearer ${jwt}"}`,
      'API key': `{"msg":"key","value":"${generateApiKey().key}"}`,
      'join token': `{"msg":"join","value":"${generateJoinToken().token}"}`,
      'PEM private key': '{"pem":"-----BEGIN PRIVATE KEY-----\\nMIIE..."}',
      'private JWK': '{"jwk":{"kty":"EC","crv":"P-256","x":"abc","y":"def","d":"x9Pq3vU0mM2d6Yb4jQeW1sT8kL5nR7aZ"}}',
    };
    for (const [kind, line] of Object.entries(cases)) assert.equal(findSecret(line, new Set()), kind, kind);
  });

  it('finds a secret it was told about, and passes lines that only name things', () => {
    const secret = 'N0tShapedLikeAnyPattern-but-still-secret';
    assert.match(findSecret(`{"body":"client_secret=${secret}"}`, new Set([secret])) ?? '', /known secret/);
    const clean = [
      '{"level":30,"msg":"incoming request","req":{"method":"POST","url":"/oauth2/token"}}',
      '{"type":"token.issue","target":"alpha.api","after":{"jti":"0f3c2a","scope":"alpha:domain","kid":"k-20261202"}}',
      '{"type":"api-key.create","after":{"id":"0123456789abcdef","prefix":"tsk_0123456789abcdef"}}',
      '{"x5t#S256":"o0s2b3cQ6M1t3mFq2yJj6pA7k0x9vR8wQm5eL4nT1uY"}',
    ];
    for (const line of clean) assert.equal(findSecret(line, new Set([secret])), null, line);
  });

  it('reports where each leak is, in logs and in audit records, and counts what it read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-hygiene-'));
    dirs.push(dir);
    const secret = 'plain-secret-value-0123456789';
    await writeFile(join(dir, 's1.log'), `{"msg":"ok"}\n{"msg":"oops","secret":"${secret}"}\n`);
    await writeFile(join(dir, 's1.audit.jsonl'), `{"type":"domain.create"}\n{"type":"x","after":{"key":"-----BEGIN EC PRIVATE KEY-----"}}\n`);
    await writeFile(join(dir, 's1.secrets.json'), JSON.stringify([secret]));
    const result = await scanEvidence(dir);
    assert.equal(result.servers, 1);
    assert.equal(result.logLines, 2);
    assert.equal(result.auditRecords, 2);
    assert.equal(result.secretsKnown, 1);
    assert.deepEqual(
      result.findings.map((f) => [f.file, f.line, f.what]),
      [
        ['s1.audit.jsonl', 2, 'PEM private key'],
        ['s1.log', 2, 'known secret plain-…'],
      ],
    );
  });
});
