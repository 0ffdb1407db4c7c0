// Who is calling: an `Authorization` header first (a Bearer token for the route's audience,
// verified here with the SDK against Tessera's JWKS, roles included, so a refusal is explained
// without a round trip; or `ApiKey tsk_…`, checked through Tessera's introspection and cached
// briefly), else the TLS client certificate (certificate.ts). No credential at all is 401 with
// the RFC 6750 challenge. A certificate presented beside a token is what a certificate-bound
// token is checked against.
//
// A Bearer token that already names an actor (`act`: a token some service obtained for the
// caller, such as the very token this gateway hands its upstreams) is refused unless the route
// opts in with `acceptDelegated` (its actors and chain length); a chain naming the gateway itself
// is refused always, so an upstream token seen by anyone is never a caller's credential.

import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import {
  createVerifier,
  delegationChain,
  InsufficientScopeError,
  VerifierError,
  type AuthContext,
  type CompiledRequirement,
  type DelegationPolicy,
  type Verifier,
} from '@tessera/sdk';
import type { GatewayConfig, RouteConfig } from '../config/config.ts';
import { GatewayError } from '../http/errors.ts';
import { headerValues } from '../http/raw-headers.ts';
import { certificatePrincipal, type CertificateTrust } from './certificate.ts';

export interface Caller {
  principal: string;
  via: 'certificate' | 'bearer' | 'api_key';
  /** The caller's own access token, to exchange (bearer callers only). */
  subjectToken?: string;
}

export interface Identifier {
  identify(request: IncomingMessage, route: RouteConfig): Promise<Caller>;
}

/** RFC 6750 §2.1 b64token; API keys fit it too. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export function createIdentifier(tessera: GatewayConfig['tessera'], trust: () => CertificateTrust | undefined): Identifier {
  const verifiers = new Map<string, Verifier>();
  const verifierFor = (audience: string): Verifier => {
    let verifier = verifiers.get(audience);
    if (!verifier) {
      verifier = createVerifier({
        issuer: tessera.issuer,
        jwksUri: tessera.jwksUri,
        audience,
        algorithms: tessera.algorithms,
        ...(tessera.ca !== undefined && { ca: tessera.ca }),
        apiKeys: {
          clientId: tessera.clientId,
          clientSecret: tessera.clientSecret,
          cacheTtl: tessera.apiKeyCacheTtl,
          introspectionEndpoint: tessera.introspectionEndpoint,
        },
      });
      verifiers.set(audience, verifier);
    }
    return verifier;
  };

  const requirements = new WeakMap<RouteConfig, CompiledRequirement>();
  const requirementFor = (verifier: Verifier, route: RouteConfig): CompiledRequirement => {
    let requirement = requirements.get(route);
    if (!requirement) requirements.set(route, (requirement = verifier.requirement({ scope: route.require })));
    return requirement;
  };

  return {
    async identify(request, route) {
      const socket = request.socket as TLSSocket;
      const headers = headerValues(request, 'authorization');
      if (headers && headers.length > 1) throw new GatewayError(400, 'invalid_request', 'the request carries more than one Authorization header; send one');
      const header = headers?.[0]?.trim();
      if (header === undefined || header === '') {
        const fromCertificate = certificatePrincipal(socket, trust());
        if (fromCertificate) return { principal: fromCertificate.principal, via: 'certificate' };
        throw GatewayError.missing('this route needs a credential: a client certificate, "Authorization: Bearer <token>" or "Authorization: ApiKey <key>"');
      }
      const space = header.search(/[ \t]/);
      const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
      const credential = space < 0 ? '' : header.slice(space).trim();
      if (scheme !== 'bearer' && scheme !== 'apikey') {
        const used = JSON.stringify(header.slice(0, 20).split(/\s/)[0]);
        throw GatewayError.missing(`the gateway accepts "Authorization: Bearer <token>" or "Authorization: ApiKey <key>", not the ${used} scheme`);
      }
      if (credential === '' || !B64TOKEN.test(credential)) {
        const name = scheme === 'bearer' ? 'Bearer' : 'ApiKey';
        throw new GatewayError(400, 'invalid_request', `the Authorization header must be "${name}" followed by one space and the credential alone`);
      }
      const verifier = verifierFor(route.audience);
      let context: AuthContext;
      try {
        if (scheme === 'bearer') {
          const peer = typeof socket.getPeerX509Certificate === 'function' ? () => socket.getPeerX509Certificate() ?? null : null;
          context = await verifier.verify(credential, { peerCertificate: peer, delegation: delegationOf(route) });
        } else {
          context = await verifier.verifyApiKey(credential);
        }
      } catch (error) {
        throw fromVerifier(error, route, scheme === 'bearer' ? credential : undefined, tessera.clientId);
      }
      if (context.actors.includes(tessera.clientId)) throw ownToken(context.actors, tessera.clientId);
      const caller: Caller =
        scheme === 'bearer' ? { principal: context.principal, via: 'bearer', subjectToken: credential } : { principal: context.principal, via: 'api_key' };
      try {
        // Checked apart from the credential, so a refusal still knows (and logs) who was refused.
        requirementFor(verifier, route).check(context.roles);
      } catch (error) {
        throw Object.assign(fromVerifier(error, route), { caller: { principal: caller.principal, via: caller.via } });
      }
      return caller;
    },
  };
}

/** Only tokens issued to the caller itself, unless the route accepts some services' delegated tokens. */
function delegationOf(route: RouteConfig): DelegationPolicy {
  return route.acceptDelegated ? { maxDepth: route.acceptDelegated.maxDepth, allowedActors: route.acceptDelegated.allowedActors } : { maxDepth: 0 };
}

function ownToken(actors: readonly string[], gateway: string): GatewayError {
  return GatewayError.invalidToken(
    `the token was obtained through this gateway (${gateway}) for an upstream (act: ${actors.join(' < ')}); ` +
      'such tokens are never accepted from callers: send a token issued to the caller itself',
    'delegation',
  );
}

/** The actors of a token whose signature the verifier already checked (it refused the chain, not the token). */
function actorsOf(token: string): readonly string[] {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    return delegationChain(payload['act']) ?? [];
  } catch {
    return [];
  }
}

function fromVerifier(error: unknown, route: RouteConfig, token?: string, gateway?: string): GatewayError {
  // Callers get a fixed sentence; the SDK's message (Tessera's address and endpoints) goes to the log only.
  if (!(error instanceof VerifierError)) return GatewayError.unavailable('the credential could not be checked; try again later', messageOf(error));
  if ('reason' in error && error.reason === 'delegation' && token !== undefined && gateway !== undefined) {
    const actors = actorsOf(token);
    if (actors.includes(gateway)) return ownToken(actors, gateway);
    if (!route.acceptDelegated) {
      return GatewayError.invalidToken(
        `the token was obtained for the caller by another service (act: ${actors.join(' < ')}), and route "${route.name}" accepts only tokens ` +
          "issued to the caller itself (its acceptDelegated is not set): send the caller's own token",
        'delegation',
      );
    }
  }
  const needed = route.require.join(' ');
  if (error instanceof InsufficientScopeError) return GatewayError.insufficientScope(`${error.message}; route "${route.name}" needs ${needed}`, needed);
  if (error.status === 503) return GatewayError.unavailable('Tessera could not be reached to check the credential; try again later', error.message);
  if (error.status === 400) return new GatewayError(400, 'invalid_request', error.message);
  return GatewayError.invalidToken(error.message, 'reason' in error ? String(error.reason) : undefined);
}

function messageOf(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}
