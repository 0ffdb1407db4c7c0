// JSON log lines to a text sink (stdout). Writing to stdout is a system call per write, and
// synchronous when stdout is a file or a pipe: one per access line was a tenth of the gateway's
// CPU under load. Access lines are therefore gathered and written together once the current turn
// of the event loop is done (setImmediate: before the loop reads any more sockets), or at once
// when 64 KiB are waiting; every other line (start, reload, errors) is written at once, after the
// access lines before it, so the order of lines is kept. `flush()` writes what waits (on close).

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

export function createLogWriter(sink: LineSink, now: () => Date = () => new Date()): LogWriter {
  let pending = '';
  let scheduled: NodeJS.Immediate | undefined;
  const flush = (): void => {
    if (scheduled !== undefined) clearImmediate(scheduled);
    scheduled = undefined;
    if (pending === '') return;
    const text = pending;
    pending = '';
    sink.write(text);
  };
  return {
    log(entry) {
      const line = `${JSON.stringify({ time: now().toISOString(), ...entry })}\n`;
      if (entry['msg'] !== 'access') {
        flush();
        sink.write(line);
        return;
      }
      pending += line;
      if (pending.length >= BATCH_LIMIT) flush();
      else scheduled ??= setImmediate(flush);
    },
    flush,
  };
}
