// JSON log lines to a text sink (stdout). Writing to stdout is a system call per write, and
// synchronous when stdout is a file or a pipe; each write also wakes whatever reads the log. One
// write per access line was a tenth of the gateway's CPU under load, and a third of its time per
// request on a single connection. Access lines are therefore gathered and written together, as
// nginx's `access_log … buffer= flush=` does: once the current turn of the event loop is done
// (setImmediate: before the loop reads any more sockets), but no sooner than FLUSH_MS after the
// last write, and at once when 64 KiB are waiting. Every other line (start, reload, errors) is
// written at once, after the access lines before it, so the order of lines is kept. `flush()`
// writes what waits (on close).

export interface LineSink {
  write(text: string): unknown;
}

export interface LogWriter {
  log(entry: Record<string, unknown>): void;
  /** Writes the access lines still waiting. */
  flush(): void;
}

/** Access lines waiting past this many characters are written at once. */
const BATCH_LIMIT = 64 * 1024;
/** At most one write of access lines per this many milliseconds (the most an access line waits). */
export const FLUSH_MS = 10;

/** `fixed`: fields every line carries after its time (a cluster worker's `worker` number). */
export function createLogWriter(sink: LineSink, now: () => Date = () => new Date(), fixed: Record<string, unknown> = {}): LogWriter {
  const extra = JSON.stringify(fixed).slice(1, -1);
  let pending = '';
  let immediate: NodeJS.Immediate | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastWrite = -Infinity;
  const flush = (): void => {
    if (immediate !== undefined) clearImmediate(immediate);
    if (timer !== undefined) clearTimeout(timer);
    immediate = timer = undefined;
    if (pending === '') return;
    const text = pending;
    pending = '';
    lastWrite = performance.now();
    sink.write(text);
  };
  return {
    log(entry) {
      const line = `${serialize(now().toISOString(), fixed, extra, entry)}\n`;
      if (entry['msg'] !== 'access') {
        flush();
        sink.write(line);
        return;
      }
      pending += line;
      if (pending.length >= BATCH_LIMIT) {
        flush();
      } else if (immediate === undefined && timer === undefined) {
        const wait = lastWrite + FLUSH_MS - performance.now();
        if (wait <= 0) immediate = setImmediate(flush);
        else timer = setTimeout(flush, wait);
      }
    },
    flush,
  };
}

/** `JSON.stringify({ time, ...fixed, ...entry })`, without copying the entry into a new object first. */
function serialize(time: string, fixed: Record<string, unknown>, extra: string, entry: Record<string, unknown>): string {
  if (Object.hasOwn(entry, 'time') || (extra !== '' && Object.keys(fixed).some((key) => Object.hasOwn(entry, key)))) {
    return JSON.stringify({ time, ...fixed, ...entry });
  }
  const head = extra === '' ? `{"time":"${time}"` : `{"time":"${time}",${extra}`;
  const rest = JSON.stringify(entry);
  return rest === '{}' ? `${head}}` : `${head},${rest.slice(1)}`;
}
