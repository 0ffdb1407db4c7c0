// The token each verified caller presented, kept beside (not inside) its AuthContext: a service
// that calls the next one on the caller's behalf hands the context itself to the token client
// (`onBehalfOf: caller`), and the token never shows up where the context is logged or serialized.

import type { AuthContext } from './create-verifier.ts';

const presented = new WeakMap<AuthContext, string>();

/** Notes the access token or ID token `context` was verified from. */
export function rememberPresentedToken(context: AuthContext, token: string): void {
  presented.set(context, token);
}

/**
 * The token a verified caller presented (the JWT alone: an access token, or an ID token when the
 * verifier checks ID tokens, `context.kind`), for a token exchange on its behalf; `undefined` for
 * a context this SDK's verifier did not make from a token (an API key's, one built by hand).
 */
export function callerToken(context: AuthContext): string | undefined {
  return presented.get(context);
}
