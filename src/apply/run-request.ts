import type { ClusterPort } from '../cluster/port.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { Clock } from './clock.js';
import type { EmitEvent } from './events.js';
import type { RunHost } from './lock.js';

/** What every run that takes the lock is given: `apply` and `maintenance start|end`. */
export interface RunRequest {
  readonly cluster: ClusterPort;
  readonly spec: ClusterSpec;
  /** How long to wait for another run to release the lock. */
  readonly lockTimeoutMs: number;
  readonly clock: Clock;
  /** This machine and process, for the lock. */
  readonly host: RunHost;
  readonly signal: AbortSignal;
  readonly emit: EmitEvent;
}
