import { sleep } from '../cluster/retry.js';

/** Time as the executor sees it; tests drive a fake one. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now(), sleep };
