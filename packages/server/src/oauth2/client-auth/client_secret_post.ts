// client_secret_post (RFC 6749 §2.3.1): client_id and client_secret as body parameters.

import { invalidRequest } from '../errors.ts';
import type { ClientAuthMethod } from './method.ts';
import { checkClientSecret, type SecretCheckDeps } from './secret.ts';

export function clientSecretPost(deps: SecretCheckDeps): ClientAuthMethod {
  return {
    name: 'client_secret_post',
    present: (request) => request.form['client_secret'] !== undefined,
    async authenticate(request) {
      const clientId = request.form['client_id'];
      const secret = request.form['client_secret'] ?? '';
      if (clientId === undefined) throw invalidRequest('client_secret was sent without client_id');
      const service = await checkClientSecret(deps, clientId, secret, request.now, false);
      return { service, method: 'client_secret_post' };
    },
  };
}
