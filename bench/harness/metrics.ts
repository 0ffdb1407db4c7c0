// Tessera's own counters from /metrics (Prometheus text): SQL statements sent to storage and
// token requests answered. With several processes behind one port each scrape reaches one of
// them, so the harness reads these only where each instance is a single process.

export const SQL_STATEMENTS = 'tessera_sql_statements_total';
const TOKEN_REQUESTS = 'tessera_token_requests_total';

export interface Counters {
  /** undefined when the build has no SQL statement counter. */
  sqlStatements?: number;
  tokenRequests: number;
}

/** Sums every series of a counter in a Prometheus text exposition; undefined when it is absent. */
export function counterSum(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum = (sum ?? 0) + value;
  }
  return sum;
}

/** Both counters summed over every instance's /metrics. */
export async function readCounters(metricsUrls: readonly string[]): Promise<Counters> {
  const texts = await Promise.all(
    metricsUrls.map(async (url) => {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
      return res.text();
    }),
  );
  const sql = texts.map((text) => counterSum(text, SQL_STATEMENTS));
  return {
    sqlStatements: sql.some((value) => value === undefined) ? undefined : sql.reduce<number>((sum, value) => sum + value!, 0),
    tokenRequests: texts.reduce((sum, text) => sum + (counterSum(text, TOKEN_REQUESTS) ?? 0), 0),
  };
}
