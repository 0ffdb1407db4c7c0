// The gateway's metrics as a cluster's primary adds them up: every counter and histogram bucket
// summed series by series, series only one process has kept as they are.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addSnapshots, createMetrics, renderMetrics } from '../src/observability/metrics.ts';

describe('metrics of several workers', () => {
  it('adds counters, histograms and reloads series by series', () => {
    const a = createMetrics();
    const b = createMetrics();
    a.request('orders', 200, 0.003);
    a.request('orders', 200, 0.2);
    b.request('orders', 200, 0.02);
    b.request('orders', 503, 0.001);
    b.request('v2', 404, 1);
    b.upstreamFailure('orders', 'timeout');
    a.reload('applied');
    const total = renderMetrics(addSnapshots([a.snapshot(), b.snapshot()]));
    assert.match(total, /^tessera_gateway_requests_total\{route="orders",status="200"\} 3$/m);
    assert.match(total, /^tessera_gateway_requests_total\{route="orders",status="503"\} 1$/m);
    assert.match(total, /^tessera_gateway_requests_total\{route="v2",status="404"\} 1$/m);
    assert.match(total, /^tessera_gateway_request_duration_seconds_bucket\{route="orders",le="0.005"\} 2$/m);
    assert.match(total, /^tessera_gateway_request_duration_seconds_bucket\{route="orders",le="0.025"\} 3$/m);
    assert.match(total, /^tessera_gateway_request_duration_seconds_count\{route="orders"\} 4$/m);
    assert.match(total, /^tessera_gateway_upstream_failures_total\{route="orders",kind="timeout"\} 1$/m);
    assert.match(total, /^tessera_gateway_config_reloads_total\{result="applied"\} 1$/m);
    // One process's own rendering is unchanged by the sums' existence.
    assert.equal(renderMetrics(addSnapshots([a.snapshot()])), a.render());
  });
});
