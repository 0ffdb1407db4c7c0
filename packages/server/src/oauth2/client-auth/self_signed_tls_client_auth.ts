// self_signed_tls_client_auth (RFC 8705 §2.2): the client presents a self-signed certificate
// whose public key is one registered on its service (the keys private_key_jwt uses). No CA is
// involved, so `client_id` is required to know whose keys to compare, and only the
// certificate's validity period is checked besides the key; TLS has already proved the client
// holds the private half. The tokens it gets end when the key is removed or replaced
// (oauth2/key-removal.ts). Like tls_client_auth it is ambient: it counts only when the request
// carries no explicit credentials (client-auth/index.ts).

import type { ClientCertificates } from '../../mtls/index.ts';
import { publicKeyCache } from '../../policy/public-keys.ts';
import type { Store } from '../../storage/store.ts';
import { invalidRequest } from '../errors.ts';
import type { ClientAuthMethod } from './method.ts';
import { boundTo, certificateCheck, certificateRejected, isSelfIssued, presentedCertificate, presentedOf } from './tls_client_auth.ts';

export interface SelfSignedTlsClientAuthDeps {
  certificates: ClientCertificates;
  store: Pick<Store, 'getClientWithKeys'>;
}

/** One answer for an unknown client and an unregistered key, so client ids cannot be probed. */
const NOT_REGISTERED =
  "unknown client, or the certificate's public key is not registered on it; register the key (PUT /admin/v1/domains/{d}/services/{s}/keys/{kid}) or present the certificate of a registered key";

export function selfSignedTlsClientAuth(deps: SelfSignedTlsClientAuthDeps): ClientAuthMethod {
  const keys = publicKeyCache();
  return {
    name: 'self_signed_tls_client_auth',
    ambient: true,
    present(request) {
      const presented = presentedCertificate(deps.certificates, request);
      return presented !== null && presented !== 'unreadable' && isSelfIssued(presented.leaf);
    },
    async authenticate(request) {
      const clientId = request.form['client_id'];
      if (clientId === undefined) {
        throw invalidRequest('self_signed_tls_client_auth needs client_id in the body (RFC 8705 §2): a self-signed certificate names no client');
      }
      const { certificates } = deps;
      const checked = await certificateCheck(() => certificates.checkSelfSigned(presentedOf(certificates, request)));
      // One statement whether or not the client exists, registered keys parsed once, and the
      // certificate's key read once (each read parses it again) whether or not there is anything
      // to compare it with: a known client costs what an unknown one costs (RFC 9700 §4).
      const presentedKey = checked.certificate.publicKey;
      const client = await deps.store.getClientWithKeys(clientId);
      const registered = client?.publicKeys ?? [];
      const matches = registered.some((record) => keys.keyOf(record)?.equals(presentedKey) === true);
      if (!client || !matches) throw certificateRejected(NOT_REGISTERED);
      return { service: client.service, method: 'self_signed_tls_client_auth', certificate: boundTo(checked) };
    },
  };
}
