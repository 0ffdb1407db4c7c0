// Handing the current certificate to TLS: an `https.Agent` whose new connections use it, and
// servers whose context is swapped in place. Node's https.Agent keys its connection pool and
// TLS session cache by the options of a request, and a `secureContext` is not among them, so an
// agent left alone would go on reusing connections and resuming sessions made with the old
// certificate. Resumed sessions matter most: they carry the client certificate of the original
// handshake, so a certificate-bound token would then meet the wrong certificate.

import { Agent, type AgentOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { TlsMaterial } from './options.ts';

/** The material to use now, numbered so connections made with older material can be told apart. */
export interface Generation {
  number: number;
  material: TlsMaterial;
}

/** An agent that presents the current certificate on every new connection. */
export function refreshingAgent(current: () => Generation, options: AgentOptions = {}): Agent {
  const agent = new Agent({ keepAlive: true, ...options, maxCachedSessions: 0 });
  // The agent's own context options (ca, ciphers, minVersion…) apply to the context it makes.
  let made: { number: number; context: SecureContext } | undefined;
  const contextFor = (generation: Generation): SecureContext => {
    if (made?.number !== generation.number) {
      const { key, cert, ca, allowPartialTrustChain } = generation.material;
      // A caller's own `ca` is theirs, partial chains included only when they say so.
      const trust = options.ca === undefined ? { ca, allowPartialTrustChain } : { ca: options.ca, allowPartialTrustChain: options.allowPartialTrustChain };
      made = { number: generation.number, context: createSecureContext({ ...options, key, cert, ...trust }) };
    }
    return made.context;
  };
  const madeIn = new WeakMap<Duplex, number>();
  const createConnection = Agent.prototype.createConnection;
  const keepSocketAlive = Agent.prototype.keepSocketAlive;
  agent.createConnection = (connectOptions, callback) => {
    const generation = current();
    const socket = createConnection.call(agent, { ...connectOptions, secureContext: contextFor(generation) }, callback);
    if (socket) madeIn.set(socket, generation.number);
    return socket;
  };
  // A connection of an older certificate is closed once its request is done, not pooled.
  agent.keepSocketAlive = (socket) => (madeIn.get(socket) === current().number ? keepSocketAlive.call(agent, socket) : false);
  return agent;
}

/** Closes the pooled connections of `agent`; those serving a request close when it is done. */
export function closeIdleConnections(agent: Agent): void {
  for (const sockets of Object.values(agent.freeSockets)) {
    for (const socket of sockets ?? []) socket.destroy();
  }
}
