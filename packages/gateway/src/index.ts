// @tessera/gateway: an authenticating reverse proxy in front of services that cannot use the SDK
// (docs/gateway.md). Depends on @tessera/sdk and Node built-ins only.

export { startGateway, type Gateway, type GatewayOptions, type LogEntry, type ApplyOutcome } from './gateway.ts';
export { startGatewayCluster, type RunningCluster, type ClusterOptions } from './cluster/primary.ts';
export {
  loadConfig,
  parseConfig,
  parseWorkers,
  GatewayConfigError,
  ENVIRONMENT,
  MAX_WORKERS,
  type GatewayConfig,
  type RouteConfig,
  type CertificateMapping,
} from './config/config.ts';
export { createSouthboundTokens, type SouthboundTokens } from './southbound/tokens.ts';
export { GatewayError } from './http/errors.ts';
export { createLogWriter, type LogWriter, type LineSink } from './observability/log-writer.ts';
export type { Caller } from './inbound/identify.ts';
