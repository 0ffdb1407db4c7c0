// client_secret_basic (RFC 6749 §2.3.1): HTTP Basic with the client id and secret, each
// form-urlencoded before being joined by ':' and base64-encoded.

import { basicCredentials, formDecode, isBasic } from '../../http/authorization.ts';
import { invalidClient, invalidRequest } from '../errors.ts';
import type { ClientAuthMethod } from './method.ts';
import { checkClientSecret, type SecretCheckDeps } from './secret.ts';

export function clientSecretBasic(deps: SecretCheckDeps): ClientAuthMethod {
  return {
    name: 'client_secret_basic',
    present: (request) => isBasic(request.authorization),
    async authenticate(request) {
      const basic = basicCredentials(request.authorization);
      if (typeof basic !== 'object') throw invalidClient(true);
      const clientId = formDecode(basic.user);
      const secret = formDecode(basic.password);
      if (clientId === undefined || secret === undefined) {
        throw invalidRequest('the Basic credentials are not form-urlencoded as RFC 6749 §2.3.1 requires');
      }
      const bodyId = request.form['client_id'];
      if (bodyId !== undefined && bodyId !== clientId) {
        throw invalidRequest('client_id in the body differs from the one in the Authorization header');
      }
      const service = await checkClientSecret(deps, clientId, secret, request.now, true);
      return { service, method: 'client_secret_basic' };
    },
  };
}
