// application/x-www-form-urlencoded bodies for the OAuth endpoints. RFC 6749 §3.2: request
// parameters MUST NOT be included more than once, so a repeat is refused rather than letting
// one copy silently win; and parameters sent without a value MUST be treated as omitted. The
// result has no prototype, so a parameter named `__proto__` or `constructor` is just a parameter.

import { invalidRequest } from './errors.ts';

export type FormBody = Readonly<Record<string, string | undefined>>;

export function parseForm(text: string): FormBody {
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of new URLSearchParams(text)) {
    if (value === '') continue;
    if (Object.hasOwn(params, name)) throw invalidRequest(`parameter "${name.slice(0, 40)}" is repeated; send each parameter once`);
    params[name] = value;
  }
  return params;
}
