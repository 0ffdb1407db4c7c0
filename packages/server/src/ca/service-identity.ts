// The names a service certificate carries (docs/certificates.md, Service certificate profile), derived from the principal alone, and the
// rule for what a CSR may ask for: nothing, or some of exactly these names. A request for any
// other name is refused rather than dropped, so a client never believes it holds a name it
// was not given.

import { describeNameRule, dnsLabelOf, splitPrincipal } from '../policy/names.ts';
import type { RequestedNames } from './csr.ts';
import { InvalidCertificateRequestError } from './errors.ts';
import { MAX_COMMON_NAME, canonicalDnsName, trustDomainId } from './names.ts';

export interface IdentityNaming {
  /** SPIFFE trust domain, e.g. `tessera.local`. */
  trustDomain: string;
  /** e.g. `svc.tessera.local`. */
  dnsSuffix: string;
}

export interface ServiceIdentity {
  principal: string;
  /** Subject CN: the principal. */
  commonName: string;
  /** `spiffe://<trust domain>/<domain>/<service>`. */
  spiffeId: string;
  /**
   * `<service>.<domain with dots as dashes>.<dns suffix>`; null when an older domain holds that
   * label (`pay.prod` before `pay-prod`), named in `dnsNameHolder`: a name belongs to one service.
   */
  dnsName: string | null;
  dnsNameHolder?: string;
}

/**
 * @param dnsLabelHolder the domain that holds the principal's domain's DNS label (Store
 *   dnsLabelHolder); null when none does.
 */
export function serviceIdentity(principal: string, naming: IdentityNaming, dnsLabelHolder: string | null): ServiceIdentity {
  const parts = splitPrincipal(principal);
  if (parts === null) throw new InvalidCertificateRequestError(`not a principal name: ${JSON.stringify(principal)}; ${describeNameRule('principal')}`);
  if (principal.length > MAX_COMMON_NAME) {
    throw new InvalidCertificateRequestError(
      `${principal} cannot get a certificate: its name is ${principal.length} characters and a certificate CN holds at most ${MAX_COMMON_NAME}; use a shorter domain or service name`,
    );
  }
  const wanted = `${parts.service}.${dnsLabelOf(parts.domain)}.${naming.dnsSuffix}`;
  let dnsName: string;
  try {
    dnsName = canonicalDnsName(wanted);
  } catch {
    throw new InvalidCertificateRequestError(
      `${principal} cannot get a certificate: its DNS name ${wanted} is not a valid host name ` +
        "(DNS labels are letters, digits and '-', at most 63 characters, not starting or ending with '-'; '_' is not allowed); rename the service or domain",
    );
  }
  const spiffeId = `${trustDomainId(naming.trustDomain)}/${parts.domain}/${parts.service}`;
  if (dnsLabelHolder !== null && dnsLabelHolder !== parts.domain) {
    return { principal, commonName: principal, spiffeId, dnsName: null, dnsNameHolder: dnsLabelHolder };
  }
  return { principal, commonName: principal, spiffeId, dnsName };
}

/** The domain label of the principal's certificate DNS name, to look its holder up with. */
export function dnsLabelOfPrincipal(principal: string): string | null {
  const parts = splitPrincipal(principal);
  return parts === null ? null : dnsLabelOf(parts.domain);
}

/**
 * The principal named by a certificate's SPIFFE ID, the inverse of serviceIdentity: the one
 * `spiffe://<trust domain>/<domain>/<service>` among its URI SANs. Null when there is none, when
 * there are several (any URI whose scheme is spiffe in any letter case counts, so a second ID
 * cannot hide behind `SPIFFE://`), or when it has another shape or trust domain. There is no
 * fallback to the subject CN: a certificate without a SPIFFE ID names no service.
 */
export function principalOfSpiffeIds(uris: readonly string[], trustDomain: string): string | null {
  const ids = uris.filter((uri) => uri.slice(0, 'spiffe://'.length).toLowerCase() === 'spiffe://');
  const [id] = ids;
  const prefix = `${trustDomainId(trustDomain)}/`;
  if (ids.length !== 1 || id === undefined || !id.startsWith(prefix)) return null;
  const path = id.slice(prefix.length).split('/');
  if (path.length !== 2) return null;
  const [domain = '', service = ''] = path;
  return splitPrincipal(`${domain}.${service}`)?.domain === domain ? `${domain}.${service}` : null;
}

/** @throws {InvalidCertificateRequestError} naming the first name the CSR asks for that is not the identity's. */
export function checkRequestedNames(requested: RequestedNames, identity: ServiceIdentity): void {
  const dns = identity.dnsName === null ? '' : ` and DNS:${identity.dnsName}`;
  const own = `it may ask for CN=${identity.commonName}, URI:${identity.spiffeId}${dns}, or for no names at all`;
  const foreign = requested.subject.find((attribute) => attribute.type !== 'CN');
  if (foreign !== undefined) {
    throw new InvalidCertificateRequestError(
      `the CSR's subject holds ${foreign.type}=${foreign.value}; a service certificate's subject is only CN=${identity.commonName}: remove the other attributes (${own})`,
    );
  }
  const commonNames = requested.subject.map((attribute) => attribute.value);
  if (commonNames.length > 1) throw new InvalidCertificateRequestError(`the CSR's subject holds ${commonNames.length} CNs; ${own}`);
  const [commonName] = commonNames;
  if (commonName !== undefined && commonName !== identity.commonName) {
    throw new InvalidCertificateRequestError(`the CSR asks for CN=${commonName}, but the identity proven is ${identity.principal}; ${own}`);
  }
  const [other] = requested.otherNames;
  if (other !== undefined) {
    throw new InvalidCertificateRequestError(
      `the CSR asks for ${other}; service certificates carry no IP addresses, e-mail addresses or other name types: ${own}`,
    );
  }
  const foreignDns = requested.dnsNames.find((name) => name.toLowerCase() !== identity.dnsName);
  if (foreignDns !== undefined && identity.dnsNameHolder !== undefined) {
    throw new InvalidCertificateRequestError(
      `the CSR asks for DNS:${foreignDns}, but that name belongs to domain ${identity.dnsNameHolder}, ` +
        `which has the same DNS label and is older; ${identity.principal}'s certificates carry no DNS name ` +
        `(move the service to a domain whose name differs in more than dots and dashes): ${own}`,
    );
  }
  if (foreignDns !== undefined) {
    throw new InvalidCertificateRequestError(`the CSR asks for DNS:${foreignDns}, which is not ${identity.principal}'s name; ${own}`);
  }
  const uri = requested.uris.find((name) => name !== identity.spiffeId);
  if (uri !== undefined) throw new InvalidCertificateRequestError(`the CSR asks for URI:${uri}, which is not ${identity.principal}'s SPIFFE ID; ${own}`);
}
