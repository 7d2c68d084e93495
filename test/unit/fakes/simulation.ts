/**
 * How time moves the fake. One tick runs, per namespace, the kubelet (pods.ts), then the
 * StatefulSet and Deployment controllers (statefulsets.ts, deployments.ts), then the Job controller
 * (jobs.ts). Status is written by the controllers, so it lags a patch until the next tick, as on a
 * real cluster. The fake clock's sleep(ms) and advance(ms) run one tick per `tickMs` of clock time
 * (at least one per advance), and so does a wait for a watch event (waitForChange).
 */
import type { ClusterState } from './cluster-state.js';
import { syncDeployment } from './deployments.js';
import { syncJob } from './jobs.js';
import { runKubelet } from './pods.js';
import { syncStatefulSet } from './statefulsets.js';
import { writeStatus } from './workload-objects.js';

export class Simulation {
  private pendingMs = 0;
  private ticksThisAdvance = 0;

  constructor(private readonly s: ClusterState) {
    s.clock.onAdvance((ms, last) => this.onTimePassed(ms, last));
  }

  /** Runs the kubelet and the controllers `n` times; the clock does not move. */
  tick(n = 1): void {
    const s = this.s;
    for (let i = 0; i < n; i++) {
      s.ticks++;
      if (s.ticks > s.maxTicks) throw new Error(`MemoryCluster: more than ${s.maxTicks} ticks; a wait never ends`);
      for (const ns of s.namespaces.values()) {
        runKubelet(s, ns);
        for (const w of ns.workloads.values()) writeStatus(s, w, () => (w.kind === 'StatefulSet' ? syncStatefulSet(s, w) : syncDeployment(s, w)));
        for (const job of [...ns.jobs.values()]) syncJob(s, ns, job);
      }
    }
  }

  /**
   * Ticks (without moving the clock) until nothing has changed for long enough that nothing will
   * (pods that are about to become Ready, Jobs about to finish); returns the ticks run.
   */
  settle(maxTicks: number): number {
    const s = this.s;
    let slowest = Math.max(s.readyAfterTicks, s.jobTicks, s.jobDeletionTicks);
    for (const ns of s.namespaces.values()) for (const w of ns.workloads.values()) slowest = Math.max(slowest, w.readyAfterTicks);
    let quiet = 0;
    for (let n = 1; n <= maxTicks; n++) {
      const before = s.rvCounter;
      this.tick();
      quiet = s.rvCounter === before ? quiet + 1 : 0;
      if (quiet > slowest) return n;
    }
    return maxTicks;
  }

  /** A watch that waits for a change: moves the simulation on by min(timeoutMs, tickMs) of clock time (at least one tick). */
  async waitForChange(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted || !(timeoutMs > 0)) return;
    this.s.clock.advance(Math.min(timeoutMs, this.s.tickMs));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** One tick per tickMs of clock time, and at least one per advance of the clock. */
  private onTimePassed(ms: number, last: boolean): void {
    this.pendingMs += ms;
    const n = Math.floor(this.pendingMs / this.s.tickMs);
    this.pendingMs -= n * this.s.tickMs;
    this.tick(n);
    this.ticksThisAdvance += n;
    if (last) {
      if (this.ticksThisAdvance === 0) {
        this.pendingMs = 0;
        this.tick();
      }
      this.ticksThisAdvance = 0;
    }
  }
}
