// The server package's public face: what the CLI and tests use.

export { createServer, startServer, DEFAULT_TRUST_DOMAIN } from './server.ts';
export type { ServerOptions, TesseraServer } from './server.ts';
export { loadConfig, ConfigError, describeConfig } from './config/load.ts';
export type { Config } from './config/config.ts';
export { recoverAdmin, RecoverAdminError } from './admin/recover.ts';
export type { RecoverAdminResult } from './admin/recover.ts';
