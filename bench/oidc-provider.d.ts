// oidc-provider ships no types; the benchmark needs only its constructor and Koa callback, and the
// console's tests (testkit/src/oidc-provider.ts) no more.

declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
  }
}
