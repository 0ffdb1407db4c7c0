// Per-route metrics in the Prometheus text format (version 0.0.4), served on `metricsListen`
// only, never on the proxy's listener. A small exposition of its own rather than prom-client:
// the gateway depends on the SDK and Node built-ins alone, and these few series need no more.

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export interface Metrics {
  request(route: string, status: number, seconds: number): void;
  upstreamFailure(route: string, kind: 'connect' | 'timeout'): void;
  reload(result: 'applied' | 'refused'): void;
  /** The counts so far, as plain data (what a cluster worker sends its primary to be added up). */
  snapshot(): MetricsSnapshot;
  render(): string;
}

/** Every series' value, keyed by its label text (`route="…",status="…"`; a route name for the histograms). */
export interface MetricsSnapshot {
  requests: [string, number][];
  durations: [string, Histogram][];
  failures: [string, number][];
  reloads: [string, number][];
}

export function createMetrics(): Metrics {
  const requests = new Map<string, number>();
  const durations = new Map<string, Histogram>();
  const failures = new Map<string, number>();
  const reloads = new Map<string, number>([
    ['applied', 0],
    ['refused', 0],
  ]);
  const bump = (map: Map<string, number>, key: string): void => {
    map.set(key, (map.get(key) ?? 0) + 1);
  };
  // The series' label text per route and status, made once rather than on every request.
  const labelsOf = new Map<string, Map<number, string>>();
  const requestLabels = (route: string, status: number): string => {
    let byStatus = labelsOf.get(route);
    if (!byStatus) labelsOf.set(route, (byStatus = new Map()));
    let labels = byStatus.get(status);
    if (labels === undefined) byStatus.set(status, (labels = `route="${label(route)}",status="${status}"`));
    return labels;
  };
  const snapshot = (): MetricsSnapshot => ({
    requests: [...requests],
    durations: [...durations].map(([route, h]) => [route, { counts: [...h.counts], sum: h.sum, count: h.count }]),
    failures: [...failures],
    reloads: [...reloads],
  });
  return {
    request(route, status, seconds) {
      bump(requests, requestLabels(route, status));
      let h = durations.get(route);
      if (!h) durations.set(route, (h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
      for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.counts[i]!++;
      h.sum += seconds;
      h.count++;
    },
    upstreamFailure(route, kind) {
      bump(failures, `route="${label(route)}",kind="${kind}"`);
    },
    reload(result) {
      bump(reloads, result);
    },
    snapshot,
    render() {
      return renderMetrics(snapshot());
    },
  };
}

/** The sum of several processes' counts: every counter and histogram bucket added up, series by series. */
export function addSnapshots(snapshots: readonly MetricsSnapshot[]): MetricsSnapshot {
  const add = (pick: (s: MetricsSnapshot) => [string, number][]): [string, number][] => {
    const sum = new Map<string, number>();
    for (const s of snapshots) for (const [key, value] of pick(s)) sum.set(key, (sum.get(key) ?? 0) + value);
    return [...sum];
  };
  const durations = new Map<string, Histogram>();
  for (const s of snapshots) {
    for (const [route, h] of s.durations) {
      const total = durations.get(route);
      if (!total) durations.set(route, { counts: [...h.counts], sum: h.sum, count: h.count });
      else {
        h.counts.forEach((n, i) => (total.counts[i] = (total.counts[i] ?? 0) + n));
        total.sum += h.sum;
        total.count += h.count;
      }
    }
  }
  return { requests: add((s) => s.requests), durations: [...durations], failures: add((s) => s.failures), reloads: add((s) => s.reloads) };
}

export function renderMetrics(snapshot: MetricsSnapshot): string {
  const lines: string[] = [];
  lines.push('# HELP tessera_gateway_requests_total Requests answered, by route and status.', '# TYPE tessera_gateway_requests_total counter');
  for (const [labels, value] of snapshot.requests) lines.push(`tessera_gateway_requests_total{${labels}} ${value}`);
  lines.push(
    '# HELP tessera_gateway_request_duration_seconds Time from request to the end of the answer, by route.',
    '# TYPE tessera_gateway_request_duration_seconds histogram',
  );
  for (const [route, h] of snapshot.durations) {
    const r = label(route);
    BUCKETS.forEach((le, i) => lines.push(`tessera_gateway_request_duration_seconds_bucket{route="${r}",le="${le}"} ${h.counts[i]}`));
    lines.push(`tessera_gateway_request_duration_seconds_bucket{route="${r}",le="+Inf"} ${h.count}`);
    lines.push(`tessera_gateway_request_duration_seconds_sum{route="${r}"} ${h.sum}`);
    lines.push(`tessera_gateway_request_duration_seconds_count{route="${r}"} ${h.count}`);
  }
  lines.push(
    '# HELP tessera_gateway_upstream_failures_total Upstreams unreachable (connect) or too slow (timeout), by route.',
    '# TYPE tessera_gateway_upstream_failures_total counter',
  );
  for (const [labels, value] of snapshot.failures) lines.push(`tessera_gateway_upstream_failures_total{${labels}} ${value}`);
  lines.push('# HELP tessera_gateway_config_reloads_total Configuration reloads, applied or refused.');
  lines.push('# TYPE tessera_gateway_config_reloads_total counter');
  for (const [result, value] of snapshot.reloads) lines.push(`tessera_gateway_config_reloads_total{result="${result}"} ${value}`);
  return `${lines.join('\n')}\n`;
}

function label(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}
