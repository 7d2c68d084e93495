import { sleep } from '../cluster/retry.js';

/** Time as the executor sees it; tests drive a fake one. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Calls `callback` once, `ms` from now, unless cancelled first; returns the cancel function. A
   * pending timer never keeps the process alive on its own.
   */
  timer(ms: number, callback: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep,
  timer: (ms, callback) => {
    const handle = setTimeout(callback, ms);
    handle.unref();
    return () => clearTimeout(handle);
  },
};
