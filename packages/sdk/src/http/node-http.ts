// node:http as CommonJS gives it, not through an ES module import. Importing it as an ES module
// builds its namespace by reading every export, and its WebSocket getter then loads Node's fetch
// implementation (undici): ~1 MB of heap and 1 MB outside it in every process that imports this
// package, a Tessera server's among them, though none of it is used. require() reads nothing.

import { createRequire } from 'node:module';
import type * as Http from 'node:http';

export const nodeHttp = createRequire(import.meta.url)('node:http') as typeof Http;
