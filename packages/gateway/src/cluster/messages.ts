// What the gateway's primary and its workers say to each other over the cluster's IPC channel.
// The configuration travels whole, loaded and checked once by the primary (at start and on each
// reload), in a form that survives JSON: certificates as PEM, sets as arrays, URLs as text.

import { X509Certificate } from 'node:crypto';
import type { GatewayConfig, RouteConfig } from '../config/config.ts';
import type { MetricsSnapshot } from '../observability/metrics.ts';

type Tls = NonNullable<GatewayConfig['tls']>;

export interface WireConfig extends Omit<GatewayConfig, 'tls' | 'certificateMappings' | 'routes' | 'authz'> {
  tls: (Omit<Tls, 'clientCa' | 'externalCas'> & { clientCa: string[]; externalCas: string[] }) | undefined;
  certificateMappings: (Omit<GatewayConfig['certificateMappings'][number], 'cas'> & { cas: string[] })[];
  routes: (Omit<RouteConfig, 'methods' | 'upstream'> & { methods: string[] | null; upstream: string })[];
  authz: { allowFrom: string[] | 'any' } | null;
}

export function configToWire(config: GatewayConfig): WireConfig {
  return {
    ...config,
    tls: config.tls && {
      ...config.tls,
      clientCa: config.tls.clientCa.map((cert) => cert.toString()),
      externalCas: config.tls.externalCas.map((cert) => cert.toString()),
    },
    certificateMappings: config.certificateMappings.map((m) => ({ ...m, cas: [...m.cas] })),
    routes: config.routes.map((r) => ({ ...r, methods: r.methods && [...r.methods], upstream: r.upstream.href })),
    authz: config.authz && { allowFrom: config.authz.allowFrom === 'any' ? 'any' : [...config.authz.allowFrom] },
  };
}

export function configFromWire(wire: WireConfig): GatewayConfig {
  return {
    ...wire,
    tls: wire.tls && {
      ...wire.tls,
      clientCa: wire.tls.clientCa.map((pem) => new X509Certificate(pem)),
      externalCas: wire.tls.externalCas.map((pem) => new X509Certificate(pem)),
    },
    certificateMappings: wire.certificateMappings.map((m) => ({ ...m, cas: new Set(m.cas) })),
    routes: wire.routes.map((r) => ({ ...r, methods: r.methods && new Set(r.methods), upstream: new URL(r.upstream) })),
    authz: wire.authz && { allowFrom: wire.authz.allowFrom === 'any' ? 'any' : new Set(wire.authz.allowFrom) },
  };
}

/** How long the primary waits for the workers' answers to a reload or a metrics scrape. */
export const ANSWER_MS = 2000;

/** Primary → worker. */
export type ToWorker =
  | { type: 'start'; config: WireConfig; worker: number }
  /** A reloaded configuration (routes, mappings, certificates) to apply; answered with `applied`. */
  | { type: 'apply'; config: WireConfig; id: number }
  /** Send this worker's counts (`snapshot`). */
  | { type: 'collect-metrics'; id: number }
  /** The total of every worker's counts a worker asked for (`metrics-request`). */
  | { type: 'metrics-total'; id: number; snapshot?: MetricsSnapshot; error?: string }
  | { type: 'shutdown' };

/** Worker → primary. */
export type FromWorker =
  /** The worker listens for messages: it may be sent `start`. */
  | { type: 'hello' }
  | { type: 'ready'; url: string; metricsUrl: string | undefined }
  | { type: 'failed'; message: string }
  /** Whole log lines, to be written by the primary as they are. */
  | { type: 'log'; text: string }
  | { type: 'applied'; id: number; error?: string }
  | { type: 'snapshot'; id: number; snapshot: MetricsSnapshot }
  /** A scrape of `/metrics` reached this worker: it wants every worker's counts added up. */
  | { type: 'metrics-request'; id: number };

export { isMessage } from '@tessera/cluster';
