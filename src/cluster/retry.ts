import { ClusterError } from './cluster-error.js';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Cap on a server's Retry-After, so a confused server cannot park the run for an hour. */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 200, maxDelayMs: 5_000, maxRetryAfterMs: 30_000 };

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const sleep: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Runs `attempt` again after errors worth retrying (429, 5xx, transport failures), with
 * exponential backoff and jitter, honouring Retry-After; everything else fails at once.
 */
export async function withRetry<T>(
  attempt: (n: number) => Promise<T>,
  options: { policy?: RetryPolicy; sleep?: Sleep; random?: () => number; onRetry?: (error: ClusterError, delayMs: number) => void; signal?: AbortSignal } = {},
): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY;
  const wait = options.sleep ?? sleep;
  const random = options.random ?? Math.random;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!(error instanceof ClusterError) || !error.retryable || n >= policy.attempts || options.signal?.aborted) throw error;
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
      const jittered = backoff / 2 + random() * (backoff / 2);
      const delay = error.retryAfterSeconds !== undefined ? Math.min(policy.maxRetryAfterMs, error.retryAfterSeconds * 1000) : jittered;
      options.onRetry?.(error, delay);
      await wait(delay, options.signal);
    }
  }
}
