// One header's values as the caller sent them, read from `rawHeaders`: what
// `request.headersDistinct[name]` gives, without building that object for every header of every
// request (the gateway needs it for Host and Authorization only, to refuse duplicates).

import type { IncomingMessage } from 'node:http';

/** Every value of header `name` (lower case), in order; undefined when the request has none. */
export function headerValues(request: Pick<IncomingMessage, 'rawHeaders'>, name: string): string[] | undefined {
  const raw = request.rawHeaders;
  let values: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i]!;
    if (field.length === name.length && field.toLowerCase() === name) (values ??= []).push(raw[i + 1]!);
  }
  return values;
}
