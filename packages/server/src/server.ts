// The composition function: one Config in, one running Tessera out. Nothing here is global,
// so a test can build as many servers as it likes, each with its own data dir and clock. It
// only puts the parts together: the fastify instance and what every route shares are made in
// http/app.ts and http/plumbing.ts, the metrics and the storage log lines in observability/.
//
// Dependencies point inward: HTTP (oauth2/, admin/, http/) → policy/ and keys/ → storage/.

import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { adminApi } from './admin/index.ts';
import { ensureBootstrapAdmin } from './admin/bootstrap.ts';
import { caSettings, loadCertificateAuthority, writeBundleFile, type CertificateAuthority } from './ca/index.ts';
import { SAFETY_AUTOCHECKPOINT_PAGES } from './cluster/sqlite-checkpoints.ts';
import { listenPort } from './config/load.ts';
import { oidcIssuersFor, type Config } from './config/config.ts';
import { CERTIFICATES_PATH, caHttpApi, crlIssuerOf } from './ca/http/index.ts';
import { createCertificateProofs } from './ca/proofs/index.ts';
import { certLogin } from './cert-login/index.ts';
import { createHttpApp } from './http/app.ts';
import { storageLocation } from './config/describe.ts';
import { healthRoutes, readiness } from './http/health.ts';
import { openApiCollector, registerOpenApiRoute } from './http/openapi.ts';
import { installPlumbing } from './http/plumbing.ts';
import { serverCertificateNames, serverTls, type TlsWatch } from './http/server-tls.ts';
import { createSecretHasher } from './keys/client-secrets.ts';
import { MasterKeyMismatchError, createSealer } from './keys/master-key.ts';
import { readMasterKey } from './keys/master-key-source.ts';
import { nextKeyRotationAt, rotationPolicy } from './keys/rotation.ts';
import { consoleRoutes } from './console/index.ts';
import { readClientSecret } from './console/oidc.ts';
import { adminApiAudience, PERSON_SESSION_TYP } from './oauth2/tokens.ts';
import { compileMappings, createClientCertificates, readCaFiles, tesseraCaSource } from './mtls/index.ts';
import { SigningKeys } from './keys/signing-keys.ts';
import { clientSecretBasic } from './oauth2/client-auth/client_secret_basic.ts';
import { clientSecretPost } from './oauth2/client-auth/client_secret_post.ts';
import { federatedAssertions } from './oauth2/assertions/federated-assertion.ts';
import { PRIVATE_KEY_JWT_ALGORITHMS, privateKeyJwt } from './oauth2/client-auth/private_key_jwt.ts';
import { selfSignedTlsClientAuth } from './oauth2/client-auth/self_signed_tls_client_auth.ts';
import { tlsClientAuth } from './oauth2/client-auth/tls_client_auth.ts';
import { discoveryRoutes } from './oauth2/discovery.ts';
import { introspectionEndpoint } from './oauth2/introspect.ts';
import { createOwnTokenVerifier } from './oauth2/own-token-verifier.ts';
import { revocationEndpoint } from './oauth2/revoke.ts';
import { TOKEN_PATHS, tokenEndpoint } from './oauth2/token-endpoint.ts';
import { createTokenReuseCache } from './oauth2/token-reuse.ts';
import { createClientGuard } from './oauth2/client-guard.ts';
import { createTokenService } from './oauth2/token-service.ts';
import { createTokenGuards } from './guards/index.ts';
import { bucketShare, databaseConnections, databasePoolShare } from './guards/worker-share.ts';
import { createMetricsRegistry, registerRequestMetrics } from './observability/metrics.ts';
import { logStorageOutages, registryEventLogger } from './observability/storage-log.ts';
import { serviceAccountsApi } from './service-accounts/index.ts';
import { adminCredentialLine, servingLine, stoppedLine } from './startup-lines.ts';
import { AvailabilityWatch } from './storage/availability.ts';
import { openStore } from './storage/open.ts';
import { RegistryCache, type RegistryCacheOptions } from './storage/registry-cache.ts';
import type { SigningAlg } from './storage/records.ts';
import type { Store } from './storage/store.ts';

export interface ServerOptions {
  /** Milliseconds since the epoch; tests move time with this. */
  now?: () => number;
  /** Where log lines go instead of stdout (a file, or a test collecting them). */
  logStream?: { write(line: string): void };
  /**
   * False in the cluster workers after the first (cluster/worker.ts): they leave signing-key and
   * CA rotation, `ca.pem` and audit pruning to worker 0, and only load what it did. Default true.
   */
  ownsTimers?: boolean;
  /** The cluster worker this is (cluster/worker.ts): shown in /metrics as `tessera_worker{worker}`. */
  worker?: number;
  /** How often the operator's certificate files (`tls.certFile`, `tls.keyFile`) are checked for a change (ms; default 2000). */
  tlsFilePollMs?: number;
  /** Overrides of the registry cache's bounds and intervals (tests). */
  registryCache?: Omit<RegistryCacheOptions, 'listenUrl' | 'now' | 'onEvent'>;
}

export interface TesseraServer {
  readonly app: FastifyInstance;
  readonly store: Store;
  /** The token endpoint's reads of the registry, from memory (storage/registry-cache.ts). */
  readonly registry: RegistryCache;
  readonly signingKeys: SigningKeys;
  readonly ca: CertificateAuthority;
  readonly config: Config;
  /** Set when this start created the bootstrap admin. */
  readonly bootstrapCredentialFile: string | null;
  /** Starts listening; resolves to the base URL (with the real port when the config said 0). */
  listen(): Promise<string>;
  /**
   * Starts the background work (key and CA refresh or rotation, audit pruning) without listening:
   * a cluster worker, whose connections the primary hands over. listen() calls it.
   */
  start(): void;
  /** Reads the operator's certificate files again now (SIGHUP); a bad pair is logged and the one in use kept. */
  reloadTls(): Promise<void>;
  close(): Promise<void>;
  /** Writes the refusal summaries so far and the buffered token-request audit now, instead of within the next interval. */
  flushAudit(): Promise<void>;
}

const ALGORITHMS: readonly SigningAlg[] = ['ES256', 'EdDSA', 'RS256'];
/** The self-issued server certificate's: made at each start and renewed in place (http/server-tls.ts); not the operator's files. */
const SERVER_CERT_LIFETIME = 30 * 86_400;
/** The default of `ca.trustDomain` (TESSERA_TRUST_DOMAIN); the server itself uses the configured one. */
export const DEFAULT_TRUST_DOMAIN = 'tessera.local';

export async function createServer(config: Config, options: ServerOptions = {}): Promise<TesseraServer> {
  const now = options.now ?? Date.now;
  const ownsTimers = options.ownsTimers ?? true;
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const masterKey = await readMasterKey(config.masterKey, { generate: true });
  const sealer = createSealer(masterKey);
  const hasher = createSecretHasher(masterKey);

  const availability = new AvailabilityWatch(now);
  // A worker's pool is its share of the instance's (guards/worker-share.ts); the LISTEN connection comes on top.
  const poolSize = databasePoolShare(config.databasePoolSize, options.worker === undefined ? 1 : config.workers);
  // A cluster's primary checkpoints the SQLite log: the workers only past a safety threshold.
  const sqliteAutocheckpointPages = options.worker === undefined ? undefined : SAFETY_AUTOCHECKPOINT_PAGES;
  const store = await openStore(config.database, { now, availability, poolSize, sqliteAutocheckpointPages });
  // Its events are logged once the logger exists (createHttpApp, below); one before then goes unlogged.
  let logRegistry: NonNullable<RegistryCacheOptions['onEvent']> = () => {};
  const registry = new RegistryCache(store, {
    maxClients: config.registryCache.maxClients,
    // Token exchange (the subject token and those it was exchanged from) and token reuse ask
    // whether a token was revoked on the token endpoint's path: revoked tokens are held.
    ...options.registryCache,
    listenUrl: config.database.kind === 'postgres' ? config.database.url : undefined,
    now,
    onEvent: (event) => logRegistry(event),
  });
  let tlsWatch: TlsWatch | null = null;
  try {
    await registry.start();
    const fingerprint = await store.initMeta('master_key_fingerprint', sealer.fingerprint);
    if (fingerprint !== sealer.fingerprint) {
      throw new MasterKeyMismatchError(
        'the master key differs from the one this database was created with; start with the original master key (TESSERA_MASTER_KEY or --master-key-file)',
      );
    }

    const ca = await loadCertificateAuthority({
      store,
      sealer,
      settings: caSettings(config),
      now,
      checkIntervalMs: config.signing.checkInterval * 1000,
      rotates: ownsTimers,
    });
    if (ownsTimers) {
      const bundleFile = join(config.dataDir, 'ca.pem');
      await writeBundleFile(bundleFile, ca.bundlePem);
      ca.onBundleChange((bundlePem) => writeBundleFile(bundleFile, bundlePem));
    }
    const tls =
      config.listen.protocol === 'https:'
        ? await serverTls({
            ca,
            names: serverCertificateNames(config.listen, config.issuer, config.tls.names),
            files: config.tls.files,
            issuerHost: new URL(config.issuer).hostname,
            lifetimeSeconds: SERVER_CERT_LIFETIME,
            now,
            pollMs: options.tlsFilePollMs,
          })
        : null;

    const metrics = createMetricsRegistry({ worker: options.worker });
    const http = createHttpApp({ config, logStream: options.logStream, tls, metrics });
    const { app } = http;
    tlsWatch = http.tlsWatch;
    logRegistry = registryEventLogger(app.log);

    const signingKeys = new SigningKeys({
      store,
      sealer,
      alg: config.signing.alg,
      policy: rotationPolicy(config),
      now,
      checkIntervalMs: config.signing.checkInterval * 1000,
      logger: app.log,
      rotates: ownsTimers,
      signOnEventLoop: signsOnEventLoop(config),
    });
    await signingKeys.refresh();

    const tokenEndpointUrl = `${config.issuer}${TOKEN_PATHS[0]}`;
    const bootstrap = await ensureBootstrapAdmin(store, hasher, config.dataDir, tokenEndpointUrl);
    if (bootstrap.credentialFile) app.log.info({ file: bootstrap.credentialFile }, 'bootstrap admin credential written');
    if (bootstrap.retired) app.log.info('the bootstrap admin was deleted and is not made again; `tessera recover-admin` makes a new admin credential');

    const requestMetrics = registerRequestMetrics(metrics, availability);
    logStorageOutages(availability, app.log, requestMetrics.outage);

    const openapi = openApiCollector({ title: 'Tessera', version: '0.1.0', description: 'Service-to-service authentication: tokens, keys and the admin API.' });
    app.addHook('onRoute', openapi.onRoute);
    installPlumbing(app, { bodyLimit: config.bodyLimit });

    const assertionAudiences = [...TOKEN_PATHS.map((path) => `${config.issuer}${path}`), config.issuer];
    // Made whenever external issuers are configured, even none for client assertions, so a token
    // of an issuer trusted for certificates only is told so rather than read as a client id.
    const federated =
      config.oidcProofs.length === 0
        ? undefined
        : federatedAssertions({
            issuers: oidcIssuersFor(config.oidcProofs, 'client-assertions'),
            audiences: assertionAudiences,
            clockSkew: config.clockSkew,
            consumeJti: (issuer, key, keepUntil, at) => registry.consumeAssertionJti(issuer, key, keepUntil, at),
          });
    const credentialMethods = [
      clientSecretBasic({ store: registry, hasher }),
      clientSecretPost({ store: registry, hasher }),
      privateKeyJwt({ store: registry, audiences: assertionAudiences, clockSkew: config.clockSkew, ...(federated === undefined ? {} : { federated }) }),
    ];
    const externalCas = await readCaFiles(config.mtls.externalCas, 'mtls.externalCas');
    const loginCas = config.certLogin.enabled ? await readCaFiles(config.certLogin.trustedCas, 'certLogin.trustedCas') : [];
    const clientCertificates = createClientCertificates({
      tesseraCas: await tesseraCaSource(ca, store),
      trustDomain: ca.trustDomain,
      externalCas,
      store: registry,
      trustedProxies: config.trustedProxies,
      proxyCertHeader: config.mtls.proxyCertHeader,
      now,
    });
    const { mappings, requireClientAuthEku } = config.certLogin;
    const certificateMapper = compileMappings(mappings, { requireClientAuthEku });
    const methods = [
      ...credentialMethods,
      tlsClientAuth({ certificates: clientCertificates, store: registry, mapper: certificateMapper }),
      selfSignedTlsClientAuth({ certificates: clientCertificates, store: registry }),
    ];
    const jwksJson = (): string => signingKeys.jwksJson();
    const health = { ping: () => store.ping(), keysLoaded: () => signingKeys.loaded, metrics };
    healthRoutes(app, health);
    discoveryRoutes(app, {
      issuer: config.issuer,
      jwksJson,
      jwksMaxAge: config.signing.jwksMaxAge,
      authMethods: () => methods.map((m) => m.name),
      authSigningAlgorithms: PRIVATE_KEY_JWT_ALGORITHMS,
      algorithms: ALGORITHMS,
    });
    // A worker of a round-robin cluster sees a share of each caller's requests: it enforces a share of the budgets.
    const slot = options.worker !== undefined && config.workerDistribution === 'round-robin' ? { worker: options.worker, workers: config.workers } : undefined;
    const guards = createTokenGuards({ config, store, log: app.log, metrics, now, slot });
    const guard = createClientGuard({ now, gates: guards.gates, observers: [requestMetrics.outcomes, ...guards.observers] });
    // Token exchange judges the subject token as introspection does, with the registry's reads
    // from the cache; only a bound subject token's certificate record comes from the database.
    const exchangeStore = {
      getService: (principal: string) => registry.getService(principal),
      rolesHeld: (principal: string, domains: string[], at: number) => registry.rolesHeld(principal, domains, at),
      isTokenRevoked: (jti: string, at: number) => registry.isTokenRevoked(jti, at),
      getDomain: (name: string) => registry.getDomain(name),
      getCertificateByThumbprint: (thumbprint: string) => store.getCertificateByThumbprint(thumbprint),
    };
    const ownTokens = createOwnTokenVerifier({ issuer: config.issuer, jwksJson, algorithms: ALGORITHMS, clockSkew: config.clockSkew, now });
    // Tessera's ID tokens (typ JWT): a token exchange's subject token where a role allows it, and a revocation's token.
    const ownIdTokens = createOwnTokenVerifier({ issuer: config.issuer, jwksJson, algorithms: ALGORITHMS, clockSkew: config.clockSkew, now }, { typ: 'JWT' });
    const tokens = createTokenService({
      store: registry,
      issuer: config.issuer,
      lifetimes: config.tokens,
      signingKey: () => signingKeys.current(),
      reuse: config.tokenReuse.enabled ? createTokenReuseCache(config.tokenReuse.window) : undefined,
      guard,
      exchange: { verify: ownTokens, verifyIdToken: ownIdTokens, maxDepth: config.tokenExchange.maxDepth, store: exchangeStore },
    });
    await tokenEndpoint(app, { tokens, methods, bodyLimit: config.bodyLimit });
    const loginCertificates = clientCertificates.trusting(loginCas);
    await certLogin(app, {
      config: config.certLogin,
      certificates: loginCertificates,
      mapper: certificateMapper,
      store: registry,
      tokens,
      credentialMethods,
      bodyLimit: config.bodyLimit,
    });
    const verify = ownTokens;
    // A person's console session token (console/oidc.ts): verified only by the admin API, and
    // only while OpenID Connect sign-in is on.
    const oidc = config.console.enabled ? config.console.oidc : null;
    const verifySession =
      oidc === null
        ? undefined
        : createOwnTokenVerifier(
            { issuer: config.issuer, jwksJson, algorithms: ALGORITHMS, clockSkew: config.clockSkew, now },
            { typ: PERSON_SESSION_TYP, audience: adminApiAudience(config.issuer) },
          );
    // RFC 8705 §3: a bound token's certificate is the one on the connection (or a trusted proxy's
    // header), trusted now as it was at issuance, by the token endpoint or certificate login.
    const boundCertificates = clientCertificates.trusting([...externalCas, ...loginCas]);
    await adminApi(app, {
      store,
      hasher,
      verify,
      now,
      boundCertificates,
      verifySession,
      signingKeys: { rotate: (actor) => signingKeys.rotate({ actor }), nextRotationAt: (keys) => nextKeyRotationAt(keys, rotationPolicy(config)) },
      storage: { backend: config.database.kind, location: storageLocation(config.database), readiness: (log) => readiness(health, log) },
      joinTokens: config.joinTokens,
      ca,
      peopleDomain: oidc?.principal.domain ?? null,
    });
    const tokenChecks = { store, hasher, verify, now, methods, bodyLimit: config.bodyLimit, guard };
    await introspectionEndpoint(app, tokenChecks);
    await revocationEndpoint(app, { ...tokenChecks, verifyIdToken: ownIdTokens });
    await serviceAccountsApi(app, {
      store,
      clients: registry,
      hasher,
      verify,
      now,
      boundCertificates,
      tokens,
      domain: config.serviceAccounts.domain,
      peopleDomain: oidc?.principal.domain ?? null,
      jwksJson,
      jwksMaxAge: config.signing.jwksMaxAge,
    });
    await caHttpApi(app, {
      ca,
      store,
      proofs: createCertificateProofs({
        store,
        hasher,
        certificatesUrl: `${config.issuer}${CERTIFICATES_PATH}`,
        trustDomain: ca.trustDomain,
        oidcIssuers: oidcIssuersFor(config.oidcProofs, 'certificates'),
        clockSkew: config.clockSkew,
      }),
      peerCertificate: (request) => clientCertificates.peerCertificate(request),
      gates: guards.gates,
      crlIssuer: crlIssuerOf({ ca, store, sealer, trustDomain: ca.trustDomain }),
      now,
      bodyLimit: config.bodyLimit,
    });
    consoleRoutes(app, {
      enabled: config.console.enabled,
      oidc:
        oidc === null
          ? undefined
          : {
              deps: {
                config: oidc,
                issuer: config.issuer,
                store,
                signingKey: () => signingKeys.current(),
                now,
                clockSkew: config.clockSkew,
                signInLimit: config.consoleSignInRateLimit,
                ...(slot === undefined ? {} : { signInShare: bucketShare(config.consoleSignInRateLimit, slot) }),
              },
              clientSecret: readClientSecret(oidc),
            },
    });
    registerOpenApiRoute(app, openapi);
    await app.ready();

    let closed = false;
    let started = false;
    const start = (): void => {
      if (started) return;
      started = true;
      signingKeys.start();
      ca.start(app.log);
      if (ownsTimers) guards.start();
    };
    return {
      app,
      store,
      registry,
      signingKeys,
      ca,
      config,
      bootstrapCredentialFile: bootstrap.credentialFile,
      flushAudit: () => guards.flush(),
      async listen() {
        const host = config.listen.hostname.replace(/^\[|\]$/g, '');
        await app.listen({ host, port: listenPort(config.listen) });
        start();
        const address = app.server.address();
        const port = typeof address === 'object' && address ? address.port : Number(config.listen.port);
        return `${config.listen.protocol}//${config.listen.hostname}:${port}`;
      },
      start,
      reloadTls: () => tlsWatch?.reload() ?? Promise.resolve(),
      async close() {
        if (closed) return;
        closed = true;
        tlsWatch?.stop();
        await signingKeys.stop();
        await ca.stop();
        await app.close();
        await guards.close();
        await registry.close();
        await store.close();
      },
    };
  } catch (error) {
    tlsWatch?.stop();
    await registry.close();
    await store.close();
    throw error;
  }
}

/** `signing.thread`: `auto` signs on the event loop when every core runs a worker of its own. */
export function signsOnEventLoop(config: Pick<Config, 'signing' | 'workers'>, cores = availableParallelism()): boolean {
  return config.signing.thread === 'event-loop' || (config.signing.thread === 'auto' && config.workers >= cores);
}

/** `tessera serve` in one process (serve.ts, `workers` 1): build, log the config's warnings, listen, log where it serves. */
export async function startServer(
  config: Config,
  options: ServerOptions = {},
): Promise<{ url: string; close(signal?: string): Promise<void>; reloadTls(): Promise<void> }> {
  const server = await createServer(config, options);
  for (const warning of config.warnings ?? []) server.app.log.warn(warning);
  let url: string;
  try {
    url = await server.listen();
  } catch (error) {
    // Closed, or its database connections (the registry cache's LISTEN among them) would keep the process alive.
    await server.close().catch((closeError: unknown) => server.app.log.warn({ err: closeError }, 'closing the server that could not listen failed'));
    throw error;
  }
  const connections = server.store.kind === 'postgres' ? { databaseConnections: databaseConnections(config.databasePoolSize, 1) } : {};
  const serving = servingLine(config, url, 1, { storage: server.store.kind, ...connections });
  server.app.log.info(serving.details, serving.message);
  if (server.bootstrapCredentialFile === null) {
    const credential = adminCredentialLine(config);
    server.app.log.info(credential.details, credential.message);
  }
  return {
    url,
    async close(signal?: string) {
      const since = Date.now();
      await server.close();
      const stopped = stoppedLine(signal, since, Date.now(), 1);
      server.app.log.info(stopped.details, stopped.message);
    },
    reloadTls: () => server.reloadTls(),
  };
}
