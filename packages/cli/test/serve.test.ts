// `tessera serve` with a stand-in server module: flags reach loadConfig, signals stop the
// server gracefully, and configuration problems exit 2 in one line.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';

import type { ServerApi } from '../src/commands/serve.ts';
import { runCli } from './helpers/cli.ts';

class FakeConfigError extends Error {}

interface Recorder {
  loadConfigInputs: unknown[];
  closed: number;
  /** The signal each close() was given. */
  closedOn?: (string | undefined)[];
}

function fakeServer(recorder: Recorder, loadConfig?: () => unknown): ServerApi {
  return {
    loadConfig(input) {
      recorder.loadConfigInputs.push(input);
      return loadConfig === undefined ? { config: true } : loadConfig();
    },
    startServer: async () => ({
      url: 'https://127.0.0.1:8443',
      close: async (signal?: string) => {
        recorder.closed += 1;
        (recorder.closedOn ??= []).push(signal);
      },
    }),
    ConfigError: FakeConfigError,
  };
}

/** Emits `signal` once the server has started and is waiting. */
function signalsThatSend(signal: 'SIGINT' | 'SIGTERM'): EventEmitter {
  const signals = new EventEmitter();
  signals.on('newListener', (event: string) => {
    if (event === 'SIGTERM') setImmediate(() => signals.emit(signal));
  });
  return signals;
}

describe('tessera serve', () => {
  it('passes flags, environment and cwd to loadConfig and closes on SIGTERM with exit 0', async () => {
    const recorder: Recorder = { loadConfigInputs: [], closed: 0 };
    const signals = signalsThatSend('SIGTERM');
    const env = { TESSERA_LOG_LEVEL: 'debug' };
    const result = await runCli(
      ['serve', '--data-dir', '/var/lib/tessera', '--listen', 'http://127.0.0.1:8080', '--master-key-file', 'mk', '--signing-alg', 'EdDSA'],
      { cwd: '/srv', env, signals, loadServer: async () => fakeServer(recorder) },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(recorder.loadConfigInputs, [
      {
        flags: {
          dataDir: '/var/lib/tessera',
          listen: 'http://127.0.0.1:8080',
          issuer: undefined,
          database: undefined,
          config: undefined,
          masterKeyFile: 'mk',
          logLevel: undefined,
          logFormat: undefined,
          signingAlg: 'EdDSA',
          workers: undefined,
          workerDistribution: undefined,
          tlsName: undefined,
          tlsCert: undefined,
          tlsKey: undefined,
          sharedDataDir: undefined,
        },
        env,
        cwd: '/srv',
      },
    ]);
    assert.equal(recorder.closed, 1);
    assert.deepEqual(recorder.closedOn, ['SIGTERM'], 'the signal goes to the line that says the server stopped');
    assert.equal(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM'), 0, 'signal handlers removed');
  });

  it('passes every --tls-name, joined with commas, and the certificate files', async () => {
    const recorder: Recorder = { loadConfigInputs: [], closed: 0 };
    const args = ['serve', '--tls-name', 'auth.example.internal', '--tls-name', '10.0.0.5', '--tls-cert', 'c.pem', '--tls-key', 'k.pem'];
    const result = await runCli(args, { cwd: '/srv', signals: signalsThatSend('SIGTERM'), loadServer: async () => fakeServer(recorder) });
    assert.equal(result.code, 0, result.stderr);
    const { flags } = recorder.loadConfigInputs[0] as { flags: Record<string, unknown> };
    assert.deepEqual([flags.tlsName, flags.tlsCert, flags.tlsKey], ['auth.example.internal,10.0.0.5', 'c.pem', 'k.pem']);
  });

  it('reloads the server certificate files on SIGHUP, and stops listening for it at exit', async () => {
    const signals = new EventEmitter();
    let reloads = 0;
    const server: ServerApi = {
      ...fakeServer({ loadConfigInputs: [], closed: 0 }),
      startServer: async () => {
        setImmediate(() => {
          signals.emit('SIGHUP');
          signals.emit('SIGHUP');
          setImmediate(() => signals.emit('SIGTERM'));
        });
        return { url: 'https://127.0.0.1:8443', close: async () => undefined, reloadTls: async () => void (reloads += 1) };
      },
    };
    const result = await runCli(['serve'], { cwd: '/srv', signals, loadServer: async () => server });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(reloads, 2);
    assert.equal(signals.listenerCount('SIGHUP'), 0);
  });

  it('drains a server that was asked to stop while it was still starting, and leaves no handler when the start fails', async () => {
    const signals = new EventEmitter();
    const recorder: Recorder = { loadConfigInputs: [], closed: 0 };
    const slow: ServerApi = {
      ...fakeServer(recorder),
      startServer: async () => {
        // The supervisor's SIGTERM arrives before the start has returned.
        signals.emit('SIGTERM');
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { url: 'https://127.0.0.1:8443', close: async (signal?: string) => void ((recorder.closed += 1), (recorder.closedOn ??= []).push(signal)) };
      },
    };
    const result = await runCli(['serve'], { cwd: '/srv', signals, loadServer: async () => slow });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(recorder.closedOn, ['SIGTERM']);
    assert.equal(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM') + signals.listenerCount('SIGHUP'), 0);

    const failing: ServerApi = {
      ...fakeServer(recorder),
      startServer: async () => {
        throw new Error('address in use');
      },
    };
    const failed = await runCli(['serve'], { cwd: '/srv', signals, loadServer: async () => failing });
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /cannot start the server: address in use/);
    assert.equal(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM') + signals.listenerCount('SIGHUP'), 0);
  });

  it('lists the TLS flags in its help', async () => {
    const result = await runCli(['serve', '--help'], { cwd: '/srv' });
    assert.equal(result.code, 0);
    for (const flag of ['--tls-name <name>', '--tls-cert <file>', '--tls-key <file>']) assert.ok(result.stdout.includes(flag), `${flag} in:\n${result.stdout}`);
    assert.match(result.stdout, /required when listening on 0\.0\.0\.0 or \[::\]/);
  });

  it('refuses to listen on every interface without an issuer, with exit 2 and the fix', async () => {
    const result = await runCli(['serve', '--listen', 'https://0.0.0.0:8445', '--data-dir', '/nonexistent/tessera'], {
      cwd: '/srv',
      signals: new EventEmitter(),
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: --listen: 0\.0\.0\.0:8445 listens on every interface.* pass --issuer https:\/\/<the name clients use>:8445 /);
  });

  it('refuses a certificate without its key, and a bad --tls-name, with exit 2', async () => {
    const only = await runCli(['serve', '--tls-cert', 'c.pem', '--data-dir', '/nonexistent/tessera'], { cwd: '/srv', signals: new EventEmitter() });
    assert.equal(only.code, 2);
    assert.match(only.stderr, /^error: tls\.certFile \(--tls-cert\) is set but tls\.keyFile \(--tls-key, TESSERA_TLS_KEY\) is not/);
    const bad = await runCli(['serve', '--tls-name', 'ok.example', '--tls-name', 'not a name', '--data-dir', '/nonexistent/tessera'], {
      cwd: '/srv',
      signals: new EventEmitter(),
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: --tls-name: "not a name" is neither a DNS name/);
  });

  it('closes on SIGINT too', async () => {
    const recorder: Recorder = { loadConfigInputs: [], closed: 0 };
    const result = await runCli(['serve'], {
      cwd: '/srv',
      signals: signalsThatSend('SIGINT'),
      loadServer: async () => fakeServer(recorder),
    });
    assert.equal(result.code, 0);
    assert.equal(recorder.closed, 1);
  });

  it('reports a ConfigError on one line with exit 2', async () => {
    const recorder: Recorder = { loadConfigInputs: [], closed: 0 };
    const result = await runCli(['serve', '--listen', 'ftp://x'], {
      cwd: '/srv',
      signals: new EventEmitter(),
      loadServer: async () =>
        fakeServer(recorder, () => {
          throw new FakeConfigError('--listen: expected http:// or https://\n--database: expected postgres://');
        }),
    });
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'error: --listen: expected http:// or https://; --database: expected postgres://\n');
  });

  it('reports a failure to start with exit 1', async () => {
    const result = await runCli(['serve'], {
      cwd: '/srv',
      signals: new EventEmitter(),
      loadServer: async () => ({
        ...fakeServer({ loadConfigInputs: [], closed: 0 }),
        startServer: async () => {
          throw Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8443'), { code: 'EADDRINUSE' });
        },
      }),
    });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'error: cannot start the server: listen EADDRINUSE: address already in use 127.0.0.1:8443\n');
  });

  for (const value of ['0', '-1', 'abc', '10000']) {
    it(`refuses --workers ${value} with exit 2 and says what it takes, before starting anything`, async () => {
      // The real server module: its loadConfig refuses the value before any process is started.
      const result = await runCli(['serve', '--workers', value, '--data-dir', '/nonexistent/tessera'], { cwd: '/srv', signals: new EventEmitter() });
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        `error: --workers: expected "auto" (one worker process per core) or a whole number of worker processes from 1 to 256, got "${value}"\n`,
      );
    });
  }

  it('refuses a bad --worker-distribution with exit 2, says what it takes and what was meant', async () => {
    const args = ['serve', '--worker-distribution', 'by-adress', '--data-dir', '/nonexistent/tessera'];
    const result = await runCli(args, { cwd: '/srv', signals: new EventEmitter() });
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'error: --worker-distribution: expected one of round-robin, by-address, got "by-adress" (did you mean by-address?)\n');
  });

  it('refuses a bad TESSERA_WORKER_DISTRIBUTION, and by-address behind trusted proxies, with exit 2', async () => {
    const bad = await runCli(['serve'], { cwd: '/srv', env: { TESSERA_WORKER_DISTRIBUTION: 'hash' }, signals: new EventEmitter() });
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'error: TESSERA_WORKER_DISTRIBUTION: expected one of round-robin, by-address, got "hash"\n');
    const proxies = await runCli(['serve', '--worker-distribution', 'by-address'], {
      cwd: '/srv',
      env: { TESSERA_TRUSTED_PROXIES: '10.0.0.0/8' },
      signals: new EventEmitter(),
    });
    assert.equal(proxies.code, 2);
    assert.match(
      proxies.stderr,
      /^error: workerDistribution \(--worker-distribution\) is by-address but trustedProxies is set: .* use round-robin \(the default\)\n$/,
    );
  });

  it('refuses a bad TESSERA_WORKERS the same way', async () => {
    const result = await runCli(['serve'], { cwd: '/srv', env: { TESSERA_WORKERS: 'many' }, signals: new EventEmitter() });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: TESSERA_WORKERS: expected "auto" .* got "many"\n$/);
  });
});
