// Preloaded with `node --import` (through NODE_OPTIONS) into the processes of a test that reaches
// Tessera by a host name: maps the names below to 127.0.0.1 in that process only, without
// touching /etc/hosts or a resolver. Everything that connects by name goes through dns.lookup:
// node:net and node:tls (so node:http and node:https) call it at connect time, and so does the
// fetch built into Node (undici connects through node:net). The TLS side is untouched: the
// certificate must still name the host the URL asked for.

import dns from 'node:dns';

export const TEST_HOSTS: ReadonlySet<string> = new Set(['tessera.test', 'other.test']);
const ADDRESS = { address: '127.0.0.1', family: 4 } as const;

type Callback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

const original = dns.lookup;
// dns.lookup's overloads do not survive a replacement's signature; the shapes handled are its
// documented ones: (name, callback), (name, family, callback) and (name, options, callback).
const lookup = function (hostname: string, options: unknown, callback?: Callback): void {
  if (!TEST_HOSTS.has(hostname.toLowerCase())) {
    (original as (...args: unknown[]) => void)(hostname, options, callback);
    return;
  }
  const done = (typeof options === 'function' ? options : callback) as Callback;
  const all = typeof options === 'object' && options !== null && (options as dns.LookupOptions).all === true;
  if (all) process.nextTick(done, null, [ADDRESS]);
  else process.nextTick(done, null, ADDRESS.address, ADDRESS.family);
};
dns.lookup = lookup as typeof dns.lookup;

const originalPromise = dns.promises.lookup;
dns.promises.lookup = (async (hostname: string, options?: dns.LookupOptions | number) => {
  if (!TEST_HOSTS.has(hostname.toLowerCase())) return await (originalPromise as (...args: unknown[]) => Promise<unknown>)(hostname, options);
  return typeof options === 'object' && options.all === true ? [ADDRESS] : { ...ADDRESS };
}) as typeof dns.promises.lookup;
