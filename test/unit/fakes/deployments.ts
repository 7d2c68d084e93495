/**
 * The Deployment controller of the fake, with its ReplicaSets folded in (a pod's revision is its
 * pod-template-hash), run once a tick:
 *
 * - RollingUpdate with the default 25% maxSurge (rounded up) / 25% maxUnavailable (rounded down,
 *   at least 1 when both round to 0): new pods up to the surge, then old pods down, unhealthy ones
 *   first, while enough stay available; or Recreate: every old pod goes before a new one starts;
 * - Progressing=False/ProgressDeadlineExceeded after progressDeadlineSeconds of clock time without
 *   progress; Available by the ready count against maxUnavailable.
 */
import type { ClusterState, Condition, Pod, Workload } from './cluster-state.js';
import { markDeleting, ownedPods, podEvent } from './pods.js';
import { newWorkload, newWorkloadPod, registerRevision, seedPod, type WorkloadOptions } from './workload-objects.js';

export interface DeploymentOptions extends WorkloadOptions {
  readonly strategy?: 'RollingUpdate' | 'Recreate';
  readonly progressDeadlineSeconds?: number;
}

/** A Deployment whose pods all run its template, rolled out and Available. */
export function seedDeployment(s: ClusterState, namespace: string, name: string, options: DeploymentOptions): void {
  const w = newWorkload(s, 'Deployment', namespace, name, options);
  w.strategy = options.strategy ?? 'RollingUpdate';
  w.progressDeadlineSeconds = options.progressDeadlineSeconds ?? 600;
  const hash = registerRevision(w, w.template);
  for (let i = 0; i < w.replicas; i++) seedPod(s, w, podName(s, w, hash), undefined, hash);
  w.status.conditions = [
    { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' },
    { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${name}-${hash}" has successfully progressed.` },
  ];
  deploymentStatus(s, w);
}

/** `name-<pod-template-hash>-<suffix>`, as a ReplicaSet names its pods. */
function podName(s: ClusterState, w: Workload, hash: string): string {
  return `${w.name}-${hash}-${s.nameSuffix()}`;
}

export function syncDeployment(s: ClusterState, w: Workload): void {
  const hash = registerRevision(w, w.template);
  const now = s.clock.now();
  const templateChanged = w.status.observedGeneration < w.generation && ownedPods(s, w).some((p) => p.revision !== hash);
  w.status = { ...w.status, observedGeneration: w.generation };
  if (templateChanged) w.lastProgressAt = now;
  const live = () => ownedPods(s, w).filter((p) => p.deletedTick === undefined);
  const isNew = (p: Pod) => p.revision === hash;
  const create = (n: number) => {
    for (let i = 0; i < n; i++) podEvent(s, 'pod-created', newWorkloadPod(s, w, podName(s, w, hash), undefined, hash));
  };
  if (w.strategy === 'Recreate') {
    const old = ownedPods(s, w).filter((p) => !isNew(p));
    for (const p of old) if (p.deletedTick === undefined) markDeleting(s, p, 'controller');
    if (old.length === 0) create(Math.max(0, w.replicas - live().length));
  } else {
    const maxSurge = Math.ceil(w.replicas * 0.25);
    const maxUnavailable = maxSurge === 0 && Math.floor(w.replicas * 0.25) === 0 ? 1 : Math.floor(w.replicas * 0.25);
    const pods = live();
    const newCount = pods.filter(isNew).length;
    create(Math.max(0, Math.min(w.replicas - newCount, w.replicas + maxSurge - pods.length)));
    // Scale down: unhealthy old pods first, then healthy ones while enough stay available.
    const minAvailable = w.replicas - maxUnavailable;
    const all = live();
    const newUnavailable = all.filter((p) => isNew(p) && !p.ready).length;
    let budget = all.length - minAvailable - newUnavailable;
    for (const p of all.filter((q) => !isNew(q) && !q.ready)) {
      if (budget <= 0) break;
      markDeleting(s, p, 'controller');
      budget--;
    }
    const available = live().filter((p) => p.ready).length;
    let canDown = Math.min(budget, available - minAvailable);
    for (const p of live().filter((q) => !isNew(q) && q.ready)) {
      if (canDown <= 0) break;
      markDeleting(s, p, 'controller');
      canDown--;
    }
    // Excess new pods (replicas lowered) go too.
    const extra = live().filter(isNew).length - w.replicas;
    for (const p of live().filter(isNew).slice(0, Math.max(0, extra))) markDeleting(s, p, 'controller');
  }
  deploymentStatus(s, w, hash);
}

function deploymentStatus(s: ClusterState, w: Workload, hash = registerRevision(w, w.template)): void {
  const now = s.clock.now();
  const live = ownedPods(s, w).filter((p) => p.deletedTick === undefined);
  const updated = live.filter((p) => p.revision === hash).length;
  const ready = live.filter((p) => p.ready).length;
  const newReady = live.filter((p) => p.revision === hash && p.ready).length;
  const mark = JSON.stringify([updated, newReady, live.length - updated]);
  if (mark !== w.progressMark) {
    w.progressMark = mark;
    w.lastProgressAt = now;
  }
  const maxUnavailable = w.strategy === 'Recreate' ? 0 : Math.max(Math.floor(w.replicas * 0.25), Math.ceil(w.replicas * 0.25) === 0 ? 1 : 0);
  const complete = updated === w.replicas && live.length === w.replicas && newReady === w.replicas;
  const rs = `ReplicaSet "${w.name}-${hash}"`;
  const progressing: Condition = complete
    ? { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `${rs} has successfully progressed.` }
    : now - w.lastProgressAt > w.progressDeadlineSeconds * 1000
      ? { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `${rs} has timed out progressing.` }
      : { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `${rs} is progressing.` };
  const available: Condition =
    ready >= w.replicas - maxUnavailable
      ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }
      : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' };
  w.status = { ...w.status, replicas: live.length, readyReplicas: ready, availableReplicas: ready, updatedReplicas: updated, conditions: [available, progressing] };
}
