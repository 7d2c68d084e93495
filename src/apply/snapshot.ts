import { statefulSetPod, type WorkloadState } from '../cluster/types.js';
import type { ObservedState } from '../plan/plan-input.js';
import { UserError } from '../errors.js';

/**
 * What the planner saw when a run began, kept in the checkpoint so that `--resume` can plan again
 * from the same starting point. Env is left out (literal values may be secrets, and the tool never
 * changes env): on resume it is read again from the workloads.
 */
export interface WorkloadSnapshot {
  readonly state: Omit<WorkloadState, 'containers' | 'pods' | 'owner'>;
  readonly containers: readonly { name: string; image: string }[];
  /** Pods compactly: [ordinal, revision, ready]. */
  readonly pods: readonly [number, string, boolean][];
}

export function snapshotObserved(observed: ObservedState): Record<string, WorkloadSnapshot> {
  const out: Record<string, WorkloadSnapshot> = {};
  for (const [ref, w] of observed.workloads) {
    if (!w) continue;
    // The owner is read again on resume: who manages a workload is a fact of now, not of the start.
    const { containers, pods, owner: _owner, ...state } = w;
    out[ref] = {
      state,
      containers: containers.map((c) => ({ name: c.name, image: c.image })),
      pods: pods.filter((p) => p.ordinal !== undefined).map((p) => [p.ordinal!, p.revision ?? '', p.ready && !p.deleting]),
    };
  }
  return out;
}

/** The run's starting state, with env and envFrom as the workloads have them now. */
export function restoreObserved(snapshot: Record<string, WorkloadSnapshot>, current: ObservedState): ObservedState {
  const workloads = new Map<string, WorkloadState | undefined>();
  for (const [ref, now] of current.workloads) {
    const then = snapshot[ref];
    if (!then) {
      workloads.set(ref, now);
      continue;
    }
    if (!now) throw new UserError(`${ref} existed when the run began and is gone now; the upgrade cannot be resumed safely`);
    workloads.set(ref, {
      ...then.state,
      owner: now.owner,
      containers: then.containers.map((c) => {
        const live = now.containers.find((x) => x.name === c.name);
        return { name: c.name, image: c.image, env: live?.env ?? [], envFrom: live?.envFrom ?? [] };
      }),
      pods: then.pods.map(([ordinal, revision, ready]) => statefulSetPod(then.state.name, ordinal, revision, ready)),
    });
  }
  return { workloads, unfinishedRun: undefined, helmReleases: current.helmReleases };
}
