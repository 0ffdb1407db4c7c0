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

/**
 * One JSON log line in the pretty layout; a line that is not JSON is passed on as it is. Log
 * lines carry request data (a client_id, a host name) to a terminal: every control character in
 * them is printed escaped, so a caller can neither send the terminal commands (ESC, the C1 CSI)
 * nor start a line of its own (CR, LF, U+2028).
 */
export function prettyLine(line: string): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return escapeControls(line);
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return escapeControls(line);
  const record = entry as Record<string, unknown>;
  const time = typeof record.time === 'number' ? clock(record.time) : '';
  const level = typeof record.level === 'number' ? (LEVEL_NAMES[record.level] ?? String(record.level)) : String(record.level ?? '');
  const fields = Object.entries(record)
    .filter(([key, value]) => !LEFT_OUT.has(key) && value !== undefined)
    .map(([key, value]) => `${escapeControls(key)}=${fieldText(value)}`);
  const message = typeof record.msg === 'string' ? escapeControls(record.msg) : '';
  return [time, escapeControls(level.padEnd(5)), message, ...fields].filter((part) => part !== '').join(' ');
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
  if (typeof value === 'object' && value !== null) return escapeControls(JSON.stringify(value));
  return escapeControls(String(value));
}

function isErrorLike(value: unknown): value is { message: string; code?: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}

/** Quoted only when it has to be, so that `key=value` still splits on spaces. */
function quoted(text: string): string {
  return text === '' || /[\s"=]/.test(text) || CONTROL.test(text) ? escapeControls(JSON.stringify(text)) : text;
}

/** C0 and C1 controls, DEL, and the line and paragraph separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const CONTROLS = new RegExp(CONTROL.source, 'g');
const SHORT: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Each control character as its JSON escape (`\n`, `\u001b`); JSON.stringify leaves DEL, C1 and U+2028/9 as they are. */
function escapeControls(text: string): string {
  return text.replace(CONTROLS, (char) => SHORT[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The logger's `stream` option: the given stream or stdout, through the pretty layout when asked. */
export function logDestination(config: { logFormat?: LogFormat }, stream: LineStream | undefined): { stream?: LineStream } {
  if (config.logFormat === 'pretty') return { stream: prettyStream(stream ?? process.stdout) };
  return stream ? { stream } : {};
}
