// Log lines for a person at a terminal (`logFormat: pretty`): the JSON lines pino (and the
// cluster primary, cluster/log.ts) write are read back and printed as
//   12:04:05.123 INFO  tessera is serving url=https://127.0.0.1:8443 workers=2
// JSON stays the format for anything that is not a terminal: a log pipeline parses it. The
// reformatting costs a JSON.parse per line, which a terminal reader never notices; pino-pretty
// would do the same for a dozen dependencies.

export type LogFormat = 'auto' | 'pretty' | 'json';
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const satisfies readonly LogFormat[];

export interface LineStream {
  write(line: string): void;
}

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Said by the line's layout already, or the same on every line of one process. */
const LEFT_OUT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v']);

/** `auto` is pretty on a terminal and JSON anywhere else (a file, a pipe, a test's collector). */
export function resolveLogFormat(format: LogFormat | undefined, toTerminal: boolean | undefined): 'pretty' | 'json' {
  if (format === 'pretty' || format === 'json') return format;
  return toTerminal === true ? 'pretty' : 'json';
}

/** A stream that takes JSON log lines and writes them to `out` in the pretty layout. */
export function prettyStream(out: LineStream): LineStream {
  let pending = '';
  return {
    write(chunk: string) {
      // pino writes whole lines, but a stream may be handed several, or a part of one.
      pending += chunk;
      let end = pending.indexOf('\n');
      while (end !== -1) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        if (line.trim() !== '') out.write(`${prettyLine(line)}\n`);
        end = pending.indexOf('\n');
      }
    },
  };
}

/** One JSON log line in the pretty layout; a line that is not JSON is passed on as it is. */
export function prettyLine(line: string): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return line;
  const record = entry as Record<string, unknown>;
  const time = typeof record.time === 'number' ? clock(record.time) : '';
  const level = typeof record.level === 'number' ? (LEVEL_NAMES[record.level] ?? String(record.level)) : String(record.level ?? '');
  const fields = Object.entries(record)
    .filter(([key, value]) => !LEFT_OUT.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${fieldText(value)}`);
  return [time, level.padEnd(5), typeof record.msg === 'string' ? record.msg : '', ...fields].filter((part) => part !== '').join(' ');
}

function clock(epochMs: number): string {
  const date = new Date(epochMs);
  const pad = (value: number, width = 2): string => String(value).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function fieldText(value: unknown): string {
  // An error (pino's serialised `err`) is its message: the stack is in the JSON format.
  if (isErrorLike(value)) return quoted(value.code === undefined ? value.message : `${value.message} (${String(value.code)})`);
  if (typeof value === 'string') return quoted(value);
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

function isErrorLike(value: unknown): value is { message: string; code?: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}

/** Quoted only when it has to be, so that `key=value` still splits on spaces. */
function quoted(text: string): string {
  return text === '' || /[\s"=]/.test(text) ? JSON.stringify(text) : text;
}

/** The logger's `stream` option: the given stream or stdout, through the pretty layout when asked. */
export function logDestination(config: { logFormat?: LogFormat }, stream: LineStream | undefined): { stream?: LineStream } {
  if (config.logFormat === 'pretty') return { stream: prettyStream(stream ?? process.stdout) };
  return stream ? { stream } : {};
}
