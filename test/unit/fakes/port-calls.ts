/**
 * Every port call of the fake goes through PortCalls: it is recorded (method, copied arguments,
 * clock time, tick), injected faults are thrown before or after it takes effect, and a ClusterError
 * the adapter would absorb (a 404 on a get) is turned into its value.
 */
import { copy, type ClusterState } from './cluster-state.js';
import { ClusterError, type ClusterErrorKind } from '../../../src/cluster/cluster-error.js';
import type { ClusterPort } from '../../../src/cluster/port.js';

export type PortMethod = Exclude<keyof ClusterPort, 'target'>;

export interface CallRecord {
  readonly method: PortMethod;
  readonly args: readonly unknown[];
  /** Clock time and tick number when the call was made. */
  readonly at: number;
  readonly tick: number;
  /** Set when the call failed with a ClusterError (injected or real). */
  error?: ClusterErrorKind;
}

export type FaultRule = (call: { method: PortMethod; args: readonly unknown[] }) => ClusterError | undefined;

export interface FaultOptions {
  readonly times?: number;
  /** The call takes effect first and then throws, like a response lost on the way back. */
  readonly applied?: boolean;
}

interface Fault {
  readonly fn: FaultRule;
  remaining: number;
  readonly applied: boolean;
}

/** A ClusterError like the adapter makes from a response, for injection. */
export function fault(kind: ClusterErrorKind, message?: string, options: { retryAfterSeconds?: number } = {}): ClusterError {
  const status: Partial<Record<ClusterErrorKind, number>> = {
    'not-found': 404, 'already-exists': 409, conflict: 409, invalid: 422, forbidden: 403, unauthorized: 401,
    throttled: 429, server: 500, gone: 410, 'bad-request': 400,
  };
  return new ClusterError(kind, message ?? `${kind} (injected)`, { ...(status[kind] ? { status: status[kind] } : {}), ...options });
}

export class PortCalls {
  /** Every port call, in order, with its arguments (copied) and the error kind if it failed. */
  readonly calls: CallRecord[] = [];
  private readonly faults: Fault[] = [];

  constructor(private readonly state: ClusterState) {}

  /** Calls for which `fn` returns an error throw it, `times` times (default: until the returned function is called). */
  inject(fn: FaultRule, options: FaultOptions = {}): () => void {
    const entry: Fault = { fn, remaining: options.times ?? Infinity, applied: options.applied ?? false };
    this.faults.push(entry);
    return () => {
      entry.remaining = 0;
    };
  }

  /** Runs `body` as the call `method(args)`: recorded, faults applied, absorbed errors made values. */
  async run<T>(method: PortMethod, args: readonly unknown[], body: () => T, absorb?: (error: ClusterError) => { value: T } | undefined): Promise<T> {
    const record: CallRecord = { method, args: args.map(copy), at: this.state.clock.now(), tick: this.state.ticks };
    this.calls.push(record);
    await Promise.resolve();
    const fault = this.take(method, args);
    try {
      if (fault && !fault.applied) throw fault.error;
      const value = body();
      if (fault?.applied) throw fault.error;
      return value;
    } catch (error) {
      if (error instanceof ClusterError) {
        record.error = error.kind;
        const absorbed = absorb?.(error);
        if (absorbed) return absorbed.value;
      }
      throw error;
    }
  }

  private take(method: PortMethod, args: readonly unknown[]): { error: ClusterError; applied: boolean } | undefined {
    for (const f of this.faults) {
      if (f.remaining <= 0) continue;
      const error = f.fn({ method, args });
      if (!error) continue;
      f.remaining--;
      return { error, applied: f.applied };
    }
    return undefined;
  }
}
