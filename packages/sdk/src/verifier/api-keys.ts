// API keys (`Authorization: ApiKey tsk_…`; docs/http-api.md, API keys) checked through the issuer's RFC 7662
// introspection endpoint, authenticated as this service (client_secret_basic). Answers are
// reused for a short time (`cacheTtl`, never past the key's expiry), inactive ones included, so
// a busy caller costs one introspection per TTL; concurrent checks of one key share a request.
// A key whose shape or CRC-32 checksum is wrong is refused without a request.

import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { InvalidTokenError, VerifierUnavailableError } from './errors.ts';
import type { IssuerMetadata } from './key-source.ts';
import { requireUrl, type FetchLike, type ResolvedOptions } from './options.ts';

export interface ApiKeyIntrospection {
  active: true;
  sub: string;
  /** The domain the key was issued for; the verifier accepts it only when it is its own. */
  aud?: string | string[];
  client_id?: string;
  scope?: string;
  exp?: number;
  iat?: number;
  [claim: string]: unknown;
}

export interface ApiKeyChecker {
  /** The active introspection answer for `key`; throws InvalidTokenError when it is not active. */
  check(key: string): Promise<ApiKeyIntrospection>;
}

const SHAPE = /^tsk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}[0-9A-Za-z]{6}$/;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const MAX_CACHED = 1000;

type Answer = { active: true; introspection: ApiKeyIntrospection } | { active: false };

export function createApiKeyChecker(
  options: ResolvedOptions & { apiKeys: NonNullable<ResolvedOptions['apiKeys']> },
  fetchImpl: FetchLike | null,
  metadata: () => Promise<IssuerMetadata>,
): ApiKeyChecker {
  const { clientId, clientSecret, cacheTtl } = options.apiKeys;
  const authorization = `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')}`;
  const cache = new Map<string, { answer: Answer; until: number }>();
  const inFlight = new Map<string, Promise<Answer>>();

  const endpoint = async (): Promise<string> => {
    if (options.apiKeys.introspectionEndpoint) return options.apiKeys.introspectionEndpoint;
    const found = (await metadata()).introspection_endpoint;
    try {
      return requireUrl(found, 'introspection_endpoint');
    } catch {
      throw new VerifierUnavailableError("the issuer's discovery document names no usable introspection_endpoint; configure apiKeys.introspectionEndpoint");
    }
  };

  const introspect = async (key: string): Promise<Answer> => {
    const url = await endpoint();
    let res: Response;
    let body: unknown;
    try {
      res = await (fetchImpl ?? fetch)(url, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ token: key, token_type_hint: 'api_key' }).toString(),
        redirect: 'manual',
        signal: AbortSignal.timeout(5000),
      });
      body = await res.json().catch(() => null);
    } catch (error) {
      throw new VerifierUnavailableError(`introspection at ${url} failed: ${(error as Error).message}; try again later`, { cause: error });
    }
    if (res.status !== 200) {
      // 401 here means this service's own credentials are wrong: not something the caller can fix.
      throw new VerifierUnavailableError(`introspection at ${url} answered ${res.status}; check apiKeys.clientId and clientSecret`);
    }
    const answer = body as Partial<ApiKeyIntrospection> | null;
    if (answer?.active !== true || answer.token_type !== 'api_key' || typeof answer.sub !== 'string') return { active: false };
    return { active: true, introspection: answer as ApiKeyIntrospection };
  };

  return {
    async check(key) {
      if (!isWellFormed(key)) {
        throw new InvalidTokenError(
          'malformed',
          'the API key is not a Tessera key (tsk_…, 70 characters with a valid checksum); check that it was copied whole',
        );
      }
      const hash = createHash('sha256').update(key).digest('base64url');
      const now = options.now();
      const cached = cache.get(hash);
      let answer: Answer;
      if (cached && cached.until > now) {
        answer = cached.answer;
      } else {
        let pending = inFlight.get(hash);
        if (!pending) {
          pending = introspect(key).finally(() => inFlight.delete(hash));
          inFlight.set(hash, pending);
        }
        answer = await pending;
        const expiresAt = answer.active && typeof answer.introspection.exp === 'number' ? answer.introspection.exp * 1000 : Infinity;
        cache.delete(hash);
        cache.set(hash, { answer, until: Math.min(now + cacheTtl * 1000, expiresAt) });
        if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value as string);
      }
      if (!answer.active) throw new InvalidTokenError('inactive', 'the API key is not active: it was revoked, it expired, or its service is disabled');
      return answer.introspection;
    },
  };
}

function isWellFormed(key: string): boolean {
  if (!SHAPE.test(key)) return false;
  let value = crc32(key.slice(0, -6));
  let digits = '';
  for (let i = 0; i < 6; i++) {
    digits = BASE62.charAt(value % 62) + digits;
    value = Math.floor(value / 62);
  }
  return digits === key.slice(-6);
}

/** RFC 6749 §2.3.1: client_secret_basic form-encodes both parts before base64. */
function formEncode(value: string): string {
  return encodeURIComponent(value).replaceAll('%20', '+');
}
