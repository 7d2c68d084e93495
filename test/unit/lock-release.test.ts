import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ClusterPort, LeaseState } from '../../src/cluster/port.js';
import type { Clock } from '../../src/apply/clock.js';
import { lockOwner, UpgradeLock, type RunHost } from '../../src/apply/lock.js';
import type { ClusterSpec } from '../../src/spec/schema.js';

// A Lease store that answers renewals only when the test says so: a renewal in flight through a
// dropped connection, as the fault suite produced it (seed 7 left a finished run's Lease behind).
function leaseStore() {
  let lease: LeaseState | undefined;
  let version = 0;
  const held: Array<() => void> = [];
  const calls: string[] = [];
  let holdWrites = false;
  const port = {
    async getLease() {
      return lease;
    },
    async writeLease(_ns: string, _name: string, spec: { holderIdentity: string }, resourceVersion: string | undefined) {
      const apply = () => {
        if (resourceVersion !== undefined && lease?.resourceVersion !== resourceVersion) throw Object.assign(new Error('conflict'), { kind: 'conflict' });
        version++;
        lease = { ...(spec as object), holderIdentity: spec.holderIdentity, resourceVersion: String(version) } as LeaseState;
        calls.push(`write@${resourceVersion ?? 'new'}`);
        return lease;
      };
      if (!holdWrites) return apply();
      return new Promise<LeaseState>((resolve, reject) => held.push(() => { try { resolve(apply()); } catch (e) { reject(e); } }));
    },
    async deleteLease(_ns: string, _name: string, resourceVersion: string | undefined) {
      calls.push(`delete@${resourceVersion}`);
      if (lease && resourceVersion === lease.resourceVersion) lease = undefined;
    },
  } as unknown as ClusterPort;
  return {
    port,
    calls,
    current: () => lease,
    hold: () => (holdWrites = true),
    releaseHeld: () => held.splice(0).forEach((f) => f()),
  };
}

const spec = { name: 'prod', namespace: 'peerdb', leaseName: 'prod-peerdb-upgrade' } as unknown as ClusterSpec;
// On vitest's fake timers: the renewal timer fires when the test advances them.
const clock: Clock = {
  now: () => Date.now(),
  sleep: async () => {},
  timer: (ms, callback) => {
    const handle = setTimeout(callback, ms);
    return () => clearTimeout(handle);
  },
};
const host: RunHost = { hostname: 'test-host', user: 'tester', pid: 4242, isAlive: () => true };

describe('lock release', () => {
  afterEach(() => vi.useRealTimers());

  it('waits for a renewal in flight, so the Lease is gone after release (not re-written behind it)', async () => {
    vi.useFakeTimers();
    const store = leaseStore();
    const lock = new UpgradeLock(store.port, spec, host, lockOwner('run-1', 'a'.repeat(64), host), clock, () => {});
    await lock.acquire(0);
    lock.startRenewing();
    store.hold();
    await vi.advanceTimersByTimeAsync(15_000); // a renewal is now in flight, unanswered

    const released = lock.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(store.calls.filter((c) => c.startsWith('delete'))).toEqual([]); // not before the renewal is answered

    store.releaseHeld(); // the renewal lands
    await released;
    expect(store.current()).toBeUndefined();
    expect(store.calls).toEqual(['write@new', 'write@1', 'delete@2']);
  });
});
