import { ClusterError } from './cluster-error.js';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Cap on a server's Retry-After, so a confused server cannot park the run for an hour. */
  readonly maxRetryAfterMs: number;
  /**
   * Past `attempts`, keep retrying until this long after the first failure: an API server restart
   * or a managed control-plane upgrade takes minutes, and a run should ride it out.
   */
  readonly outageMs?: number;
}

/** How long an API server may be away before a run gives up (--api-outage). */
export const DEFAULT_OUTAGE_MS = 180_000;

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 200, maxDelayMs: 5_000, maxRetryAfterMs: 30_000, outageMs: DEFAULT_OUTAGE_MS };

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
  options: {
    /** A function is asked again after each failure: what is known of the server may have changed. */
    policy?: RetryPolicy | (() => RetryPolicy);
    sleep?: Sleep;
    random?: () => number;
    now?: () => number;
    /** Which retryable errors may be retried (a write: only those that surely did nothing). */
    retryIf?: (error: ClusterError) => boolean;
    onRetry?: (error: ClusterError, delayMs: number) => void;
    signal?: AbortSignal;
  } = {},
): Promise<T> {
  const policyNow = () => (typeof options.policy === 'function' ? options.policy() : options.policy ?? DEFAULT_RETRY);
  const wait = options.sleep ?? sleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  let firstFailure: number | undefined;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!(error instanceof ClusterError) || !error.retryable || options.signal?.aborted) throw error;
      if (options.retryIf && !options.retryIf(error)) throw error;
      firstFailure ??= now();
      const policy = policyNow();
      if (n >= policy.attempts && now() - firstFailure >= (policy.outageMs ?? 0)) throw error;
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
      const jittered = backoff / 2 + random() * (backoff / 2);
      const delay = error.retryAfterSeconds !== undefined ? Math.min(policy.maxRetryAfterMs, error.retryAfterSeconds * 1000) : jittered;
      options.onRetry?.(error, delay);
      await wait(delay, options.signal);
    }
  }
}
