// A background check that runs every `intervalMs`: the shape shared by the rotation runner
// (signing keys, CA generations) and audit retention. A run that outlasts the interval (a slow database) is not queued up behind
// itself, the timer never keeps the process alive, and a failure goes to `onError` — which
// must not throw, and if it does, is swallowed rather than ending the process.

export interface PeriodicCheck {
  start(): void;
  /** Clears the timer; the caller waits for work in progress on its own queue. */
  stop(): void;
}

export function periodicCheck(run: () => Promise<void>, intervalMs: number, onError: (error: unknown) => void): PeriodicCheck {
  let timer: NodeJS.Timeout | null = null;
  let running = false;
  const tick = (): void => {
    if (running) return;
    running = true;
    void run()
      .catch((error: unknown) => {
        try {
          onError(error);
        } catch {
          // A failing logger must not turn into an unhandled rejection.
        }
      })
      .finally(() => {
        running = false;
      });
  };
  return {
    start() {
      if (timer !== null) return;
      timer = setInterval(tick, intervalMs);
      timer.unref();
    },
    stop() {
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
  };
}
