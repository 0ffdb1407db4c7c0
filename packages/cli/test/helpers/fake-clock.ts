// A clock, timers and signals a test moves by hand: a timer runs only when the test fires it,
// and firing it moves the clock to the timer's time. For `tessera cert --watch`.

import { EventEmitter } from 'node:events';

import type { SignalSource, Timers } from '../../src/io.ts';

export interface PendingTimer {
  id: number;
  /** The delay it was set with. */
  ms: number;
  /** When it is due, on this clock. */
  at: number;
}

export interface FakeClock {
  now: () => number;
  timers: Timers;
  signals: SignalSource & { send(signal: 'SIGINT' | 'SIGTERM'): void; listenerCount(): number };
  pending(): PendingTimer[];
  /** The earliest pending timer, waiting for one to be set if none is. */
  nextTimer(): Promise<PendingTimer>;
  /** Runs the earliest pending timer after moving the clock to its time. */
  fire(): PendingTimer;
  /** Moves the clock without running timers (time passing while a machine sleeps). */
  advance(ms: number): void;
}

export function fakeClock(start: number): FakeClock {
  let time = start;
  let nextId = 1;
  const timers = new Map<number, PendingTimer & { callback: () => void }>();
  const waiters: (() => void)[] = [];
  const emitter = new EventEmitter();

  const earliest = (): (PendingTimer & { callback: () => void }) | undefined => [...timers.values()].sort((a, b) => a.at - b.at || a.id - b.id)[0];
  const publicView = ({ id, ms, at }: PendingTimer): PendingTimer => ({ id, ms, at });

  return {
    now: () => time,
    timers: {
      setTimeout(callback, ms) {
        const id = nextId++;
        timers.set(id, { id, ms, at: time + ms, callback });
        for (const wake of waiters.splice(0)) wake();
        return id;
      },
      clearTimeout(handle) {
        timers.delete(handle as number);
      },
    },
    signals: {
      once: (signal, listener) => emitter.once(signal, listener),
      off: (signal, listener) => emitter.off(signal, listener),
      send: (signal) => void emitter.emit(signal),
      listenerCount: () => emitter.listenerCount('SIGINT') + emitter.listenerCount('SIGTERM'),
    },
    pending: () => [...timers.values()].map(publicView),
    async nextTimer() {
      for (;;) {
        const first = earliest();
        if (first !== undefined) return publicView(first);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    fire() {
      const first = earliest();
      if (first === undefined) throw new Error('no timer is pending');
      timers.delete(first.id);
      time = Math.max(time, first.at);
      first.callback();
      return publicView(first);
    },
    advance(ms) {
      time += ms;
    },
  };
}
