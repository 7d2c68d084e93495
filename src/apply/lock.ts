import { isClusterError } from '../cluster/cluster-error.js';
import type { ClusterPort, LeaseState } from '../cluster/port.js';
import { ANNOTATION_HOST, ANNOTATION_PLAN, ANNOTATION_RUN, ownedLabels } from '../labels.js';
import type { ClusterSpec } from '../spec/schema.js';
import { formatDuration } from '../spec/duration.js';
import type { Clock } from './clock.js';
import { RunStopped } from './run-stop.js';

export const LEASE_DURATION_SECONDS = 60;
const RENEW_EVERY_MS = 15_000;

export interface LockOwner {
  readonly runId: string;
  readonly planHash: string;
  readonly host: string;
  readonly user: string;
  readonly pid: number;
}

/** The machine and process a run is on: the CLI gives the real ones, tests their own. */
export interface RunHost {
  readonly hostname: string;
  readonly user: string;
  readonly pid: number;
  /** Whether a process with this pid exists on this machine. */
  isAlive(pid: number): boolean;
}

export function lockOwner(runId: string, planHash: string, host: RunHost): LockOwner {
  return { runId, planHash, host: host.hostname, user: host.user, pid: host.pid };
}

export function holderIdentity(owner: LockOwner): string {
  return `${owner.user}@${owner.host}/${owner.pid}/${owner.runId}`;
}

/** Who holds a Lease, for messages: holder, host, since when, which plan, and whether it is stale. */
export function describeLease(lease: LeaseState, now: number): string {
  const since = lease.acquireTime ? new Date(lease.acquireTime).toISOString() : 'unknown time';
  const plan = lease.annotations[ANNOTATION_PLAN];
  const renewed = Date.parse(lease.renewTime ?? '');
  const stale = isExpired(lease, now) ? `; its last renewal was ${Number.isNaN(renewed) ? 'never' : `${formatDuration(now - renewed)} ago`}, so the run is probably dead` : '';
  return `${lease.holderIdentity} (host ${lease.annotations[ANNOTATION_HOST] ?? 'unknown'}, since ${since}${plan ? `, plan ${plan}` : ''})${stale}`;
}

export function isExpired(lease: LeaseState, now: number): boolean {
  if (!lease.holderIdentity) return true;
  const renewed = Date.parse(lease.renewTime ?? lease.acquireTime ?? '');
  if (Number.isNaN(renewed)) return true;
  return now > renewed + (lease.leaseDurationSeconds ?? LEASE_DURATION_SECONDS) * 1000;
}

/**
 * Whether the holder is certainly gone: its lease expired, or it ran on this very host and its
 * process no longer exists (a run killed with -9 and resumed on the same machine need not wait for
 * the lease to expire). A live holder is never taken over, even one of the same run.
 */
export function isStale(lease: LeaseState, now: number, host: RunHost): boolean {
  if (isExpired(lease, now)) return true;
  const match = /^[^@]*@([^/]+)\/(\d+)\//.exec(lease.holderIdentity ?? '');
  if (!match || match[1] !== host.hostname) return false;
  const pid = Number(match[2]);
  return pid !== host.pid && !host.isAlive(pid);
}

/** The Lease as a read found it (undefined: there was none), for UpgradeLock.acquire to start from. */
export interface LeaseSeen {
  readonly lease: LeaseState | undefined;
  /** Whether another run held the lock first: what was read beside the first look may be its. */
  readonly waited?: boolean;
}

/**
 * Waits (reading only) until no live run holds the lock; stops (`locked`) naming the
 * holder when `timeoutMs` passes first. Used before planning, so that a second `apply` is told a run
 * is in progress rather than anything about that run's checkpoint. Returns the Lease as last read
 * (absent, free or stale), so that acquire need not read it again.
 */
export async function waitForLock(cluster: ClusterPort, spec: ClusterSpec, clock: Clock, host: RunHost, timeoutMs: number, signal?: AbortSignal): Promise<LeaseSeen> {
  const deadline = clock.now() + timeoutMs;
  for (let waited = false; ; waited = true) {
    const lease = await cluster.getLease(spec.namespace, spec.leaseName);
    const now = clock.now();
    if (!lease || !lease.holderIdentity || isStale(lease, now, host)) return waited ? { lease, waited } : { lease };
    if (now >= deadline || signal?.aborted) throw lockedError(spec, lease, now);
    await clock.sleep(Math.min(2_000, deadline - now), signal);
  }
}

function lockedError(spec: ClusterSpec, lease: LeaseState, now: number): RunStopped {
  return new RunStopped({ kind: 'locked', lease: `${spec.namespace}/${spec.leaseName}`, holder: describeLease(lease, now), runId: runIdOf(lease) });
}

/** The run id in a holder identity (`user@host/pid/run`). */
export function runIdOf(lease: LeaseState): string | undefined {
  return lease.holderIdentity?.split('/').at(-1);
}

/**
 * The run's lock: a coordination.k8s.io Lease, renewed while the run lives so that a crashed run's
 * lock is recognisably stale. Writes use resourceVersion, so two runs can never both believe they
 * hold it.
 */
export class UpgradeLock {
  private resourceVersion: string | undefined;
  private cancelRenewal: (() => void) | undefined;
  private lost = false;
  /** The renewal in flight, if any: release waits for it, so no renewal lands after the delete. */
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly cluster: ClusterPort,
    private readonly spec: ClusterSpec,
    private readonly host: RunHost,
    private readonly owner: LockOwner,
    private readonly clock: Clock,
    private readonly onWarning: (message: string) => void,
  ) {}

  /**
   * Takes the lock, waiting up to `timeoutMs` for another holder; stops (`locked`) naming it.
   * `seen`: the Lease as waitForLock last read it; the first write is tried on that instead of a
   * fresh read. It stays safe however old that read is: the write is a create (refused if a Lease
   * appeared since) or an update at the resourceVersion read (refused if it was written since), and
   * a refused write reads the Lease and decides again. A free or stale Lease stays so until written.
   */
  async acquire(timeoutMs: number, signal?: AbortSignal, seen?: LeaseSeen): Promise<void> {
    const { namespace, leaseName } = this.spec;
    const deadline = this.clock.now() + timeoutMs;
    let known = seen;
    for (;;) {
      const lease = known ? known.lease : await this.cluster.getLease(namespace, leaseName);
      known = undefined;
      const now = this.clock.now();
      if (lease?.holderIdentity === holderIdentity(this.owner)) {
        // Ours already: a write whose answer was lost on the way back went through after all.
        this.resourceVersion = lease.resourceVersion;
        return;
      }
      if (lease && lease.holderIdentity && !isStale(lease, now, this.host)) {
        if (now >= deadline || signal?.aborted) throw lockedError(this.spec, lease, now);
        await this.clock.sleep(Math.min(2_000, deadline - now), signal);
        continue;
      }
      if (lease?.holderIdentity) {
        const whose = runIdOf(lease) === this.owner.runId ? 'this run’s previous attempt' : 'a dead run';
        this.onWarning(`taking over the lock of ${whose}: ${describeLease(lease, now)}`);
      }
      try {
        this.resourceVersion = (await this.cluster.writeLease(namespace, leaseName, this.leaseSpec(now), lease?.resourceVersion)).resourceVersion;
        return;
      } catch (error) {
        // Someone else wrote the Lease between our read and write: look again.
        if (isClusterError(error, 'conflict') || isClusterError(error, 'already-exists')) continue;
        throw error;
      }
    }
  }

  /**
   * Renews every 15 s of the run's clock, in the background; a lost lock stops the run at its next
   * step. Renewals never overlap: the next is set when one has finished.
   */
  startRenewing(): void {
    const schedule = () => {
      this.cancelRenewal = this.clock.timer(RENEW_EVERY_MS, () => {
        // One renewal at a time: the next is set once this one has finished (with reads and
        // writes retried through an outage, a renewal can outlive the interval).
        this.renewing = this.renew()
          .catch((error: unknown) => {
            // Deleted (unlock --force) or rewritten by someone else: either way, not ours any more.
            if (isClusterError(error, 'conflict') || isClusterError(error, 'not-found')) this.lost = true;
            // Other errors (a network blip): the next renewal tries again; the lease lasts 60 s.
          })
          .finally(() => {
            this.renewing = undefined;
            if (this.cancelRenewal !== undefined && !this.lost) schedule();
          });
      });
    };
    schedule();
  }

  async renew(): Promise<void> {
    const now = this.clock.now();
    try {
      const lease = await this.cluster.writeLease(this.spec.namespace, this.spec.leaseName, this.leaseSpec(now), this.resourceVersion);
      this.resourceVersion = lease.resourceVersion;
    } catch (error) {
      if (!isClusterError(error, 'conflict')) throw error;
      // A retried renewal whose first try went through conflicts with itself: still ours if the
      // holder is still us; anyone else's write means the lock is lost.
      const current = await this.cluster.getLease(this.spec.namespace, this.spec.leaseName);
      if (current?.holderIdentity !== holderIdentity(this.owner)) throw error;
      this.resourceVersion = current.resourceVersion;
    }
  }

  /** Throws if the lock was lost; the executor checks between steps. */
  assertHeld(): void {
    if (this.lost) throw new RunStopped({ kind: 'lock-lost' });
  }

  async release(): Promise<void> {
    this.cancelRenewal?.();
    this.cancelRenewal = undefined;
    // A renewal still in flight (retrying through a dropped connection) would otherwise be able to
    // write the Lease again after the delete: the fault suite saw a finished run leave it behind.
    await this.renewing;
    if (this.resourceVersion === undefined) return;
    try {
      await this.cluster.deleteLease(this.spec.namespace, this.spec.leaseName, this.resourceVersion);
    } catch (error) {
      if (!isClusterError(error, 'conflict')) throw error;
      // Still ours (a renewal landed in between): delete at its version. Anyone else's: leave it.
      const current = await this.cluster.getLease(this.spec.namespace, this.spec.leaseName);
      if (current?.holderIdentity === holderIdentity(this.owner)) await this.cluster.deleteLease(this.spec.namespace, this.spec.leaseName, current.resourceVersion);
    }
    this.resourceVersion = undefined;
  }

  private acquiredAt: string | undefined;

  private leaseSpec(now: number) {
    this.acquiredAt ??= new Date(now).toISOString();
    return {
      holderIdentity: holderIdentity(this.owner),
      leaseDurationSeconds: LEASE_DURATION_SECONDS,
      acquireTime: this.acquiredAt,
      renewTime: new Date(now).toISOString(),
      annotations: {
        [ANNOTATION_HOST]: this.owner.host,
        [ANNOTATION_RUN]: this.owner.runId,
        [ANNOTATION_PLAN]: this.owner.planHash.slice(0, 12),
      },
      labels: ownedLabels(this.spec.name),
    };
  }
}
