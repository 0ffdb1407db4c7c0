// Hash routes: `#/domains`, `#/domains/<d>`, `#/domains/<d>/roles/<r>`,
// `#/domains/<d>/services/<s>`, `#/domains/<d>/callers?period=7d`, `#/domains/<d>/timeline?target=<d>.<s>`,
// `#/domains/<d>/approvals`, `#/reviews?days=30`, `#/system?period=7d`, with an optional `?limit=` (the page size of lists).
// The hash never reaches the server.

export type Route =
  | { page: 'sign-in' }
  | { page: 'domains'; limit: number }
  | { page: 'domain'; domain: string; limit: number }
  | { page: 'role'; domain: string; role: string; limit: number }
  | { page: 'callers'; domain: string; period: Period; limit: number }
  | { page: 'timeline'; domain: string; target: string | null; limit: number }
  | { page: 'system'; period: SystemPeriod }
  | { page: 'service'; domain: string; service: string; limit: number }
  | { page: 'reviews'; days: ReviewWindow; limit: number }
  | { page: 'approvals'; domain: string; limit: number }
  | { page: 'not-found'; path: string };

/** The reviews inbox's windows in days (`?days=`), 14 when absent. */
export type ReviewWindow = 7 | 14 | 30 | 90;
export const REVIEW_WINDOWS: readonly ReviewWindow[] = [7, 14, 30, 90];

export const DEFAULT_LIMIT = 50;

/** The callers page's periods (`?period=`), 30 days when absent. */
export type Period = '24h' | '7d' | '30d';

/** The system page's token-rate periods (`#/system?period=7d`), 24 hours when absent. */
export type SystemPeriod = '24h' | '7d';

export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  const requested = Number(params.get('limit'));
  const limit = Number.isInteger(requested) && requested >= 1 && requested <= 1000 ? requested : DEFAULT_LIMIT;
  let parts: string[];
  try {
    parts = path
      .split('/')
      .filter((part) => part !== '')
      .map((part) => decodeURIComponent(part));
  } catch {
    // A malformed escape (`%E0%A4%A`): no page has such a name.
    return { page: 'not-found', path };
  }
  // `.` and `..` name nothing (no domain, role or service is called so), and in an API path the
  // browser would resolve them away: `#/domains/../timeline` must not read /admin/v1/audit.
  if (parts.some((part) => part === '.' || part === '..')) return { page: 'not-found', path };
  if (parts.length === 0 || (parts.length === 1 && parts[0] === 'domains')) return { page: 'domains', limit };
  if (parts.length === 1 && parts[0] === 'sign-in') return { page: 'sign-in' };
  if (parts.length === 1 && parts[0] === 'reviews') {
    const days = REVIEW_WINDOWS.find((d) => String(d) === params.get('days')) ?? 14;
    return { page: 'reviews', days, limit };
  }
  if (parts[0] === 'domains' && parts.length === 3 && parts[2] === 'approvals') return { page: 'approvals', domain: parts[1]!, limit };
  if (parts.length === 1 && parts[0] === 'system') return { page: 'system', period: params.get('period') === '7d' ? '7d' : '24h' };
  if (parts[0] === 'domains' && parts.length === 2) return { page: 'domain', domain: parts[1]!, limit };
  if (parts[0] === 'domains' && parts.length === 3 && parts[2] === 'timeline') {
    return { page: 'timeline', domain: parts[1]!, target: params.get('target') || null, limit };
  }
  if (parts[0] === 'domains' && parts.length === 3 && parts[2] === 'callers') {
    const period = params.get('period');
    return { page: 'callers', domain: parts[1]!, period: period === '24h' || period === '7d' ? period : '30d', limit };
  }
  if (parts[0] === 'domains' && parts.length === 4 && parts[2] === 'services') return { page: 'service', domain: parts[1]!, service: parts[3]!, limit };
  if (parts[0] === 'domains' && parts.length === 4 && parts[2] === 'roles') return { page: 'role', domain: parts[1]!, role: parts[3]!, limit };
  return { page: 'not-found', path };
}

export function domainHref(domain: string): string {
  return `#/domains/${encodeURIComponent(domain)}`;
}

export function roleHref(domain: string, role: string): string {
  return `#/domains/${encodeURIComponent(domain)}/roles/${encodeURIComponent(role)}`;
}

export function callersHref(domain: string, period?: Period): string {
  return `#/domains/${encodeURIComponent(domain)}/callers${period === undefined ? '' : `?period=${period}`}`;
}

export function timelineHref(domain: string, target?: string): string {
  return `#/domains/${encodeURIComponent(domain)}/timeline${target === undefined ? '' : `?target=${encodeURIComponent(target)}`}`;
}

export function systemHref(period?: SystemPeriod): string {
  return `#/system${period === undefined ? '' : `?period=${period}`}`;
}

export function serviceHref(domain: string, service: string): string {
  return `#/domains/${encodeURIComponent(domain)}/services/${encodeURIComponent(service)}`;
}

export function reviewsHref(days?: ReviewWindow): string {
  return `#/reviews${days === undefined ? '' : `?days=${days}`}`;
}

export function approvalsHref(domain: string): string {
  return `#/domains/${encodeURIComponent(domain)}/approvals`;
}
