// How commands print data: `--json` prints the server's answer untouched (for scripts);
// otherwise lists become aligned tables and single objects `key: value` lines.

/** How a list answer is shown. */
export interface View {
  /** Table columns, in this order; columns no row has are dropped. */
  columns: readonly string[];
}

export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** With a `view` the answer is read as a list; without, as one object. */
export function formatHuman(value: unknown, view?: View): string {
  if (value === null || value === undefined || value === '') return '';
  const list = view === undefined && !Array.isArray(value) ? undefined : asList(value);
  if (list !== undefined) {
    const table = formatTable(list.rows, view?.columns);
    const rest = Object.keys(list.rest).length > 0 ? formatFields(list.rest, '') : [];
    return joinLines([...table, ...rest]);
  }
  if (typeof value === 'object') return joinLines(formatFields(value as Record<string, unknown>, ''));
  return `${String(value)}\n`;
}

/**
 * A list answer: a bare array, or an object holding one array beside scalars (a wrapper such
 * as `{"domains": [...]}` or `{"items": [...], "next": "…"}`).
 */
function asList(value: unknown): { rows: unknown[]; rest: Record<string, unknown> } | undefined {
  if (Array.isArray(value)) return { rows: value, rest: {} };
  if (typeof value !== 'object' || value === null) return undefined;
  const entries = Object.entries(value);
  const arrays = entries.filter(([, v]) => Array.isArray(v));
  const nested = entries.filter(([, v]) => v !== null && typeof v === 'object' && !Array.isArray(v));
  const only = arrays[0];
  if (arrays.length !== 1 || nested.length > 0 || only === undefined) return undefined;
  if (!(only[1] as unknown[]).every((row) => row !== null && typeof row === 'object')) return undefined;
  return {
    rows: only[1] as unknown[],
    rest: Object.fromEntries(entries.filter(([key]) => key !== only[0])),
  };
}

function formatTable(rows: readonly unknown[], preferred?: readonly string[]): string[] {
  if (rows.length === 0) return ['(none)'];
  const records = rows.map((row) => (row !== null && typeof row === 'object' ? (row as Record<string, unknown>) : { value: row }));
  const columns = chooseColumns(records, preferred);
  const cells = records.map((record) => columns.map((column) => formatCell(record[column])));
  const widths = columns.map((column, i) => Math.max(column.length, ...cells.map((row) => row[i]?.length ?? 0)));
  const line = (values: readonly string[]): string =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(columns), ...cells.map(line)];
}

function chooseColumns(records: readonly Record<string, unknown>[], preferred?: readonly string[]): string[] {
  const present = new Set(records.flatMap((record) => Object.keys(record)));
  if (preferred !== undefined) {
    const chosen = preferred.filter((column) => present.has(column));
    if (chosen.length > 0) return chosen;
  }
  // Without a view, show every field that fits in a cell.
  return [...present].filter((column) => records.some((record) => isCellValue(record[column])));
}

function isCellValue(value: unknown): boolean {
  if (Array.isArray(value)) return value.every((item) => item === null || typeof item !== 'object');
  return value === null || typeof value !== 'object';
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.map(formatCell).join(',');
  if (typeof value === 'string') {
    const [first = ''] = value.split('\n');
    return first.length < value.trimEnd().length ? `${first}…` : first;
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function formatFields(record: Record<string, unknown>, indent: string): string[] {
  const entries = Object.entries(record).filter(([, value]) => value !== undefined);
  const width = Math.max(0, ...entries.map(([key]) => key.length + 1));
  const lines: string[] = [];
  for (const [key, value] of entries) {
    const label = `${indent}${`${key}:`.padEnd(width)}`;
    if (Array.isArray(value) && value.some((item) => item !== null && typeof item === 'object')) {
      lines.push(`${indent}${key}:`, ...formatTable(value, undefined).map((row) => `${indent}  ${row}`));
    } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      lines.push(`${indent}${key}:`, ...formatFields(value as Record<string, unknown>, `${indent}  `));
    } else if (typeof value === 'string' && value.trimEnd().includes('\n')) {
      lines.push(
        `${indent}${key}:`,
        ...value
          .trimEnd()
          .split('\n')
          .map((row) => `${indent}  ${row}`),
      );
    } else {
      lines.push(`${label}  ${formatCell(value)}`);
    }
  }
  return lines;
}

function joinLines(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
