// Builds the Config from, in rising precedence, DEFAULTS, the config file (`--config` or
// TESSERA_CONFIG), TESSERA_* environment variables and command-line flags. Every problem is
// collected before failing, so one start tells the operator everything there is to fix.

import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { certificateSettings } from './certificate-settings.ts';
import { listensOnEveryInterface, ownNameProblems } from './own-names.ts';
import { tlsSettings } from './tls-settings.ts';
import { SIGNING_THREADS, WORKER_DISTRIBUTIONS, type Config } from './config.ts';
import { readConfigFile } from './file.ts';
import { consoleOidcParser } from './console-oidc.ts';
import { closest } from './did-you-mean.ts';
import { defaultLayer, envLayer, flagLayer, MASTER_KEY_ENV, SETTINGS, settingAndSource, sourceOf } from './sources.ts';
import type { Layer, RawValue, SettingKey } from './sources.ts';
import { LOG_FORMATS } from '../lib/log-format.ts';
import { MAX_CONFIGURABLE_DEPTH } from '../policy/delegation.ts';
import { cidrProblem } from '../policy/ip-ranges.ts';
import {
  cidrListParser,
  databaseParser,
  domainNameParser,
  durationParser,
  formatDuration,
  got,
  issuerParser,
  listenPort,
  oneOfParser,
  parseBoolean,
  parseByteCount,
  parseListen,
  parseOptionalUrl,
  parseMasterKeyValue,
  parsePath,
  wholeNumberParser,
  workersParser,
} from './values.ts';
import type { Parsed } from './values.ts';

export { describeConfig } from './describe.ts';
export type { ConfigSummary } from './describe.ts';
export { listenPort } from './values.ts';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  /** One line per problem, each naming the setting, its source and what is expected. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface ConfigSources {
  /** Options as commander gives them: camel-case keys, undefined when not given. */
  flags: Record<string, string | undefined>;
  env: Record<string, string | undefined>;
  /** Relative paths from flags and the environment are resolved against this. */
  cwd: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const SIGNING_ALGS = ['ES256', 'EdDSA', 'RS256'] as const;

/** @throws {ConfigError} listing every invalid setting. */
export function loadConfig({ flags, env, cwd }: ConfigSources): Config {
  const problems: string[] = [];

  const configPath = flags.config ?? env.TESSERA_CONFIG;
  const configPathSource = flags.config !== undefined ? '--config' : 'TESSERA_CONFIG';
  let fileLayer: Layer = new Map();
  if (configPath === '') problems.push(`${configPathSource}: expected the path of a JSON config file, got ""`);
  else if (configPath !== undefined) fileLayer = readConfigFile(resolve(cwd, configPath), configPathSource, problems);

  const defaults = defaultLayer();
  const layers = [defaults, fileLayer, envLayer(env), flagLayer(flags)];
  const pick = (key: SettingKey): RawValue | undefined => layers.findLast((layer) => layer.has(key))?.get(key);

  /** A value parsed from its winning source; `valid` is false when it fell back to the default. */
  const setting = <T>(key: SettingKey, parse: (value: unknown) => Parsed<T>) => {
    const raw = pick(key);
    const parsed = parse(raw?.value);
    if ('value' in parsed) return { value: parsed.value, raw, valid: true };
    if (raw !== undefined) problems.push(`${sourceOf(raw)}: ${parsed.problem}`);
    const fallback = parse(defaults.get(key)?.value) as { value: T };
    return { value: fallback.value, raw, valid: false };
  };

  // Paths written in the config file are relative to that file, so that a file and the data it
  // names can move together; paths from flags and the environment are relative to cwd.
  const absolutePath = (raw: RawValue | undefined, path: string): string => resolve(raw?.origin.kind === 'file' ? dirname(raw.origin.path) : cwd, path);

  const dataDirSetting = setting('dataDir', parsePath);
  const dataDir = absolutePath(dataDirSetting.raw, dataDirSetting.value);

  const listenSetting = setting('listen', parseListen);
  const listen = listenSetting.value;
  const issuerRaw = pick('issuer');
  const issuer = issuerRaw === undefined ? defaultIssuer(listenSetting, problems) : setting('issuer', issuerParser(listen.protocol === 'http:')).value;

  const database = setting('database', databaseParser(dataDir)).value;
  const masterKey = resolveMasterKey(env, pick('masterKeyFile'), dataDir, absolutePath, problems);
  if (database.kind === 'postgres' && masterKey.source === 'file' && masterKey.generate) {
    problems.push(
      `${sourceOf(pick('database')!)}: several instances sharing one database must share one master key: ` +
        'set TESSERA_MASTER_KEY or --master-key-file (masterKeyFile in the config file)',
    );
  }

  const positive = durationParser({ min: 1 });
  const wholeNumber = wholeNumberParser(0);
  // Zero is meaningful for these two: exact clocks in tests, and a JWKS verifiers must not cache.
  const zeroOrMore = durationParser({ min: 0 });
  // 0 keeps events forever; anything shorter than a day is a typo for a retention.
  const keepFor = (value: unknown): Parsed<number> => {
    const parsed = zeroOrMore(value);
    if ('value' in parsed && parsed.value > 0 && parsed.value < 86_400) {
      return { problem: `expected a retention of at least 1d, or 0 to keep events forever, ${got(value)}` };
    }
    return parsed;
  };
  // Node's timers give up beyond 2^31-1 ms; a timeout of hours only keeps a stuck connection.
  const timeout = durationParser({ min: 1, max: { seconds: 3600, why: 'an hour' } });
  // Each actor adds a nested act claim and a jti to every token down the chain: a few are plenty.
  const delegationDepth = (value: unknown): Parsed<number> => {
    const parsed = wholeNumberParser(1)(value);
    if ('value' in parsed && parsed.value > MAX_CONFIGURABLE_DEPTH) return { problem: `expected at most ${MAX_CONFIGURABLE_DEPTH} actors, ${got(value)}` };
    return parsed;
  };
  const defaultLifetime = setting('tokens.defaultLifetime', positive);
  const maxLifetime = setting('tokens.maxLifetime', positive);
  const rotationInterval = setting('signing.rotationInterval', positive);
  const prePublication = setting('signing.prePublication', positive);
  const jwksMaxAge = setting('signing.jwksMaxAge', zeroOrMore);
  // Node fires a timer longer than 2^31-1 ms after 1 ms instead, so longer checks would spin.
  const checkInterval = setting('signing.checkInterval', durationParser({ min: 1, max: { seconds: 24 * 86_400, why: 'the longest timer Node keeps' } }));

  const versus = (a: typeof defaultLifetime, b: typeof maxLifetime): string =>
    `${settingAndSource(a.raw!)} is ${formatDuration(a.value)} but ${settingAndSource(b.raw!)} is ${formatDuration(b.value)}`;
  if (defaultLifetime.valid && maxLifetime.valid && defaultLifetime.value > maxLifetime.value) {
    problems.push(`${versus(defaultLifetime, maxLifetime)}: the default token lifetime cannot exceed the maximum`);
  }
  if (prePublication.valid && jwksMaxAge.valid && prePublication.value < jwksMaxAge.value) {
    problems.push(
      `${versus(jwksMaxAge, prePublication)}: a new key must be published at least as long as verifiers may ` +
        'cache the JWKS, or they reject tokens from a key they have not fetched yet',
    );
  } else if (prePublication.valid && jwksMaxAge.valid && checkInterval.valid && prePublication.value < jwksMaxAge.value + checkInterval.value) {
    // Another instance may serve its old JWKS for up to one check interval before it loads the new key.
    problems.push(
      `${settingAndSource(prePublication.raw!)} is ${formatDuration(prePublication.value)} but must be at least ` +
        `signing.jwksMaxAge + signing.checkInterval (${formatDuration(jwksMaxAge.value + checkInterval.value)}): ` +
        'instances load a new key up to one check interval late, and verifiers then cache that JWKS for jwksMaxAge',
    );
  }
  if (rotationInterval.valid && prePublication.valid && rotationInterval.value <= prePublication.value) {
    problems.push(
      `${versus(prePublication, rotationInterval)}: the rotation interval must be longer, since each key is ` +
        'published that long before it takes over from the previous one',
    );
  }

  const logLevel = setting('logLevel', oneOfParser(LOG_LEVELS)).value;
  const logFormat = setting('logFormat', oneOfParser(LOG_FORMATS)).value;
  const signing: Config['signing'] = {
    alg: setting('signing.alg', oneOfParser(SIGNING_ALGS)).value,
    rotationInterval: rotationInterval.value,
    prePublication: prePublication.value,
    jwksMaxAge: jwksMaxAge.value,
    checkInterval: checkInterval.value,
    thread: setting('signing.thread', oneOfParser(SIGNING_THREADS)).value,
  };
  const trustedProxies = setting('trustedProxies', cidrListParser(cidrProblem)).value;
  const workerDistribution = setting('workerDistribution', oneOfParser(WORKER_DISTRIBUTIONS));
  // Behind proxies every connection comes from a proxy's address, not the caller's: hashing it
  // would put all traffic on a worker or two, and the per-address budgets (kept by the callers'
  // forwarded addresses) would not be exact anyway.
  if (workerDistribution.valid && workerDistribution.value === 'by-address' && trustedProxies.length > 0) {
    problems.push(
      `${settingAndSource(workerDistribution.raw!)} is by-address but trustedProxies is set: behind proxies every connection comes ` +
        "from a proxy's address, so by-address would put all traffic on a few workers; use round-robin (the default)",
    );
  }

  const config: Config = {
    dataDir,
    listen,
    issuer,
    tls: tlsSettings({ setting, pick, absolutePath, problems }, listen),
    database,
    masterKey,
    logLevel,
    logFormat,
    sharedDataDir: setting('sharedDataDir', parseBoolean).value,
    workers: setting('workers', workersParser(availableParallelism)).value,
    workerDistribution: workerDistribution.value,
    tokens: { defaultLifetime: defaultLifetime.value, maxLifetime: maxLifetime.value },
    signing,
    clockSkew: setting('clockSkew', zeroOrMore).value,
    bodyLimit: setting('bodyLimit', parseByteCount).value,
    trustedProxies,
    rateLimits: {
      client: { rate: setting('rateLimits.client.rate', wholeNumber).value, burst: setting('rateLimits.client.burst', wholeNumber).value },
      ip: { rate: setting('rateLimits.ip.rate', wholeNumber).value, burst: setting('rateLimits.ip.burst', wholeNumber).value },
    },
    consoleSignInRateLimit: {
      rate: setting('consoleSignInRateLimit.rate', wholeNumber).value,
      burst: setting('consoleSignInRateLimit.burst', wholeNumber).value,
    },
    alerts: {
      failureThreshold: setting('alerts.failureThreshold', wholeNumberParser(1)).value,
      failureWindow: setting('alerts.failureWindow', positive).value,
      webhookUrl: setting('alerts.webhookUrl', parseOptionalUrl).value,
    },
    tokenReuse: { enabled: setting('tokenReuse.enabled', parseBoolean).value, window: setting('tokenReuse.window', positive).value },
    tokenExchange: { maxDepth: setting('tokenExchange.maxDepth', delegationDepth).value },
    registryCache: { maxClients: setting('registryCache.maxClients', wholeNumberParser(1)).value },
    databasePoolSize: setting('databasePoolSize', wholeNumberParser(1)).value,
    serviceAccounts: { domain: setting('serviceAccounts.domain', domainNameParser).value },
    console: {
      enabled: setting('console.enabled', parseBoolean).value,
      oidc: setting(
        'console.oidc',
        consoleOidcParser((path) => absolutePath(pick('console.oidc'), path)),
      ).value,
    },
    ...certificateSettings({ setting, pick, absolutePath, problems }, signing, trustedProxies),
    audit: {
      retention: {
        tokenEvents: setting('audit.retention.tokenEvents', keepFor).value,
        summaries: setting('audit.retention.summaries', keepFor).value,
        adminEvents: setting('audit.retention.adminEvents', keepFor).value,
        callers: setting('audit.retention.callers', keepFor).value,
      },
      summaryInterval: setting('audit.summaryInterval', durationParser({ min: 1, max: { seconds: 86_400, why: 'a day' } })).value,
    },
    connections: {
      max: setting('connections.max', wholeNumberParser(1)).value,
      maxPerAddress: setting('connections.maxPerAddress', wholeNumberParser(1)).value,
      handshakeTimeout: setting('connections.handshakeTimeout', timeout).value,
      headersTimeout: setting('connections.headersTimeout', timeout).value,
      requestTimeout: setting('connections.requestTimeout', timeout).value,
      keepAliveTimeout: setting('connections.keepAliveTimeout', timeout).value,
      maxRequestsPerSocket: setting('connections.maxRequestsPerSocket', wholeNumber).value,
    },
  };
  const { connections } = config;
  if (connections.maxPerAddress > connections.max) {
    problems.push(
      `connections.maxPerAddress is ${connections.maxPerAddress} but connections.max is ${connections.max}: one address cannot hold more than all of them`,
    );
  }
  if (connections.headersTimeout > connections.requestTimeout) {
    problems.push(
      `connections.headersTimeout (${formatDuration(connections.headersTimeout)}) must not exceed connections.requestTimeout (${formatDuration(connections.requestTimeout)}): the headers are part of the request`,
    );
  }
  for (const kind of ['client', 'ip'] as const) {
    const { rate, burst } = config.rateLimits[kind];
    if (rate > 0 && burst < rate) {
      problems.push(
        `rateLimits.${kind}.burst is ${burst} but must be at least rateLimits.${kind}.rate (${rate}): a bucket smaller than one second of traffic refuses steady callers`,
      );
    }
  }
  const signIn = config.consoleSignInRateLimit;
  if (signIn.rate > 0 && signIn.burst < signIn.rate) {
    problems.push(
      `consoleSignInRateLimit.burst is ${signIn.burst} but must be at least consoleSignInRateLimit.rate (${signIn.rate}): ` +
        'a bucket smaller than one second of sign-ins refuses steady callers',
    );
  }
  if (config.tokenReuse.enabled && config.tokenReuse.window >= config.tokens.defaultLifetime) {
    problems.push(
      `tokenReuse.window (${formatDuration(config.tokenReuse.window)}) must be shorter than tokens.defaultLifetime (${formatDuration(config.tokens.defaultLifetime)}): a reused token must still be fresh`,
    );
  }
  problems.push(
    ...ownNameProblems({
      listen,
      issuer,
      tlsNames: config.tls.names,
      dnsSuffix: config.ca.dnsSuffix,
      raw: { listen: listenSetting.raw, issuer: issuerRaw, tlsNames: pick('tls.names'), dnsSuffix: pick('ca.dnsSuffix') },
    }),
  );
  if (problems.length > 0) throw new ConfigError(problems);
  const warnings = unknownEnvironment(env);
  return warnings.length > 0 ? { ...config, warnings } : config;
}

/** TESSERA_* variables read outside the server's settings: the CLI, the examples, the test suite. */
const READ_ELSEWHERE = new Set(['TESSERA_CONFIG', MASTER_KEY_ENV, 'TESSERA_DEBUG', 'TESSERA_CA', 'TESSERA_SERVER', 'TESSERA_CACERT', 'TESSERA_CREDENTIALS']);
const TOOLING = /^TESSERA_(TEST|BENCH|REQUIRE|FUZZ)_/;

/**
 * A warning for each TESSERA_* variable that is no setting (a typo such as TESSERA_DATADIR would
 * otherwise be ignored without a word), with the setting it most likely meant.
 */
export function unknownEnvironment(env: Readonly<Record<string, string | undefined>>): string[] {
  const settings = SETTINGS.flatMap((setting) => ('env' in setting ? [setting.env] : []));
  const known = [...new Set([...settings, ...READ_ELSEWHERE])];
  return Object.keys(env)
    .filter((name) => name.startsWith('TESSERA_') && env[name] !== undefined && !known.includes(name) && !TOOLING.test(name))
    .sort()
    .map((name) => {
      const meant = closest(name, known);
      return `${name} is not a Tessera setting and is ignored${meant ? `; did you mean ${meant}?` : ' (the settings are listed in docs/configuration.md)'}`;
    });
}

/**
 * The listen origin. A server listening on every interface has no name of its own to put in
 * `iss`: `https://0.0.0.0:8443` is no address a client can use, and any stand-in (`localhost`)
 * gives tokens an issuer that clients elsewhere reject and a certificate they cannot verify.
 */
function defaultIssuer(listen: { value: URL; raw: RawValue | undefined }, problems: string[]): string {
  const url = listen.value;
  if (!listensOnEveryInterface(url.hostname)) return url.origin;
  const scheme = url.protocol.slice(0, -1);
  problems.push(
    `${listen.raw === undefined ? 'listen' : sourceOf(listen.raw)}: ${url.host} listens on every interface, so it names no host for ` +
      "the tokens' issuer or the server certificate; pass --issuer " +
      `${scheme}://<the name clients use>:${listenPort(url)} (TESSERA_ISSUER, or issuer in the config file)`,
  );
  return `${scheme}://localhost:${listenPort(url)}`;
}

/**
 * TESSERA_MASTER_KEY and a master-key file are one setting with two spellings: the one from the
 * stronger source wins, and both in the environment at once is ambiguous, so an error.
 */
function resolveMasterKey(
  env: Record<string, string | undefined>,
  fileRaw: RawValue | undefined,
  dataDir: string,
  absolutePath: (raw: RawValue | undefined, path: string) => string,
  problems: string[],
): Config['masterKey'] {
  const value = env[MASTER_KEY_ENV];
  if (value !== undefined && fileRaw?.origin.kind === 'env') {
    problems.push(`${MASTER_KEY_ENV} and ${fileRaw.origin.name}: both are set; set only one of them`);
  }
  const fileWins = fileRaw !== undefined && (value === undefined || fileRaw.origin.kind === 'flag');
  if (value !== undefined && !fileWins) {
    const parsed = parseMasterKeyValue(value);
    if ('problem' in parsed) problems.push(`${MASTER_KEY_ENV}: ${parsed.problem}`);
    return { source: 'env', value };
  }
  if (fileRaw !== undefined) {
    const parsed = parsePath(fileRaw.value);
    if ('value' in parsed) return { source: 'file', path: absolutePath(fileRaw, parsed.value), generate: false };
    problems.push(`${sourceOf(fileRaw)}: ${parsed.problem}`);
    // Not the generated default: that would add a misleading complaint about postgres.
    return { source: 'file', path: '', generate: false };
  }
  return { source: 'file', path: join(dataDir, 'master.key'), generate: true };
}
