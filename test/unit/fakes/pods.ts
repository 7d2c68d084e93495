/**
 * Pods and the kubelet of the fake: creating a pod (bound round robin to three nodes), marking it
 * terminating, and the kubelet step of each tick: a terminating pod goes away on the next tick; a
 * new pod starts, and is Ready after its readyAfterTicks, unless the markers of its images say
 * otherwise (markers.ts).
 */
import type { ClusterEvent, EventType, PodSnapshot } from './cluster-events.js';
import type { ClusterState, Namespace, Pod, Workload } from './cluster-state.js';
import { parseSelector } from './api-rules.js';
import { podTrouble, type PodTrouble } from './markers.js';
import type { PodState } from '../../../src/cluster/types.js';

/** What the kubelet makes of a pod of these images, by their markers (or misbehave()). */
export function troubleOf(s: ClusterState, images: readonly string[], jobPod: boolean): PodTrouble {
  return podTrouble(images.map(s.behaviourOf), jobPod);
}

export function createPod(s: ClusterState, namespace: string, name: string, owner: Pod['owner'], labels: Record<string, string>, images: string[], extra: Partial<Pod>): Pod {
  const pod: Pod = {
    name,
    namespace,
    uid: s.uid(),
    labels,
    owner,
    ordinal: undefined,
    revision: undefined,
    images,
    phase: 'Pending',
    ready: false,
    waitingReason: undefined,
    waitingMessage: undefined,
    restartCount: 0,
    node: `node-${s.uidCounter % 3}`,
    createdTick: s.ticks,
    deletedTick: undefined,
    readyAfterTicks: s.readyAfterTicks,
    pinned: false,
    ...extra,
  };
  if (pod.readyAfterTicks <= 0 && troubleOf(s, images, false).healthy && owner.kind !== 'Job') {
    pod.phase = 'Running';
    pod.ready = true;
  }
  s.ns(namespace).pods.set(name, pod);
  s.nextRv();
  return pod;
}

/** A deletion (by the API or a controller): the pod is terminating, and gone on the next tick. */
export function markDeleting(s: ClusterState, pod: Pod, by: 'api' | 'controller'): void {
  if (pod.owner.kind === 'StatefulSet') {
    const w = s.ns(pod.namespace).workloads.get(`StatefulSet/${pod.owner.name}`);
    podEvent(s, 'pod-deleted', pod, { by, ...(w ? podSnapshot(s, w) : {}) });
  } else {
    podEvent(s, 'pod-deleted', pod, { by });
  }
  pod.deletedTick = s.ticks;
  s.nextRv();
}

export function podEvent(s: ClusterState, type: EventType, pod: Pod, extra: Partial<ClusterEvent> = {}): void {
  s.event({
    type,
    namespace: pod.namespace,
    kind: pod.owner.kind,
    name: pod.owner.name,
    pod: pod.name,
    ...(pod.ordinal === undefined ? {} : { ordinal: pod.ordinal }),
    ...(pod.revision === undefined ? {} : { revision: pod.revision }),
    ...extra,
  });
}

export function ownedPods(s: ClusterState, w: Workload): Pod[] {
  return [...s.ns(w.namespace).pods.values()].filter((p) => p.owner.kind === w.kind && p.owner.name === w.name);
}

/** A StatefulSet's pods at this moment, for the events that assert on ordering. */
export function podSnapshot(s: ClusterState, w: Workload): { readyOrdinals: number[]; pods: PodSnapshot[]; updateRevision: string } {
  const pods = ownedPods(s, w).sort((a, b) => b.ordinal! - a.ordinal!);
  return {
    readyOrdinals: pods.filter((p) => p.ready && p.deletedTick === undefined).map((p) => p.ordinal!),
    pods: pods.map((p) => ({ ordinal: p.ordinal!, revision: p.revision, ready: p.ready, deleting: p.deletedTick !== undefined })),
    updateRevision: w.status.updateRevision ?? '',
  };
}

/** The pods of a namespace that match a label selector, as the adapter reports them. */
export function podsMatching(s: ClusterState, namespace: string, labelSelector: string): PodState[] {
  const match = parseSelector(labelSelector);
  return [...(s.namespaces.get(namespace)?.pods.values() ?? [])].filter((p) => match(p.labels)).map(podState);
}

/** The kubelet's step in one tick, for every pod of the namespace. */
export function runKubelet(s: ClusterState, ns: Namespace): void {
  for (const pod of [...ns.pods.values()]) {
    if (pod.deletedTick !== undefined) {
      if (pod.deletedTick < s.ticks) {
        ns.pods.delete(pod.name);
        s.nextRv();
      }
      continue;
    }
    if (pod.pinned || pod.phase === 'Succeeded' || pod.phase === 'Failed') continue;
    const before = JSON.stringify(pod);
    const trouble = troubleOf(s, pod.images, pod.owner.kind === 'Job');
    if (trouble.waiting === 'ImagePullBackOff') {
      pod.phase = 'Pending';
      pod.waitingReason = 'ImagePullBackOff';
      pod.waitingMessage = `Back-off pulling image "${pod.images.find((i) => s.behaviourOf(i) === 'badimage')}"`;
    } else if (trouble.waiting === 'CreateContainerConfigError') {
      pod.phase = 'Pending';
      pod.waitingReason = 'CreateContainerConfigError';
      pod.waitingMessage = 'simulated configuration error (image marker configerror)';
    } else if (trouble.waiting === 'CrashLoopBackOff') {
      pod.phase = 'Running';
      pod.waitingReason = 'CrashLoopBackOff';
      pod.waitingMessage = `back-off restarting failed container`;
      const age = s.ticks - pod.createdTick;
      if (age > 0 && (age & (age - 1)) === 0) pod.restartCount++; // back-off doubles
    } else {
      pod.phase = 'Running';
      pod.waitingReason = undefined;
      pod.waitingMessage = undefined;
      if (!pod.ready && !trouble.neverReady && s.ticks - pod.createdTick >= pod.readyAfterTicks) {
        pod.ready = true;
        if (pod.owner.kind !== 'Job') podEvent(s, 'pod-ready', pod);
      }
    }
    if (JSON.stringify(pod) !== before) s.nextRv();
  }
}

export function podState(pod: Pod): PodState {
  return {
    name: pod.name,
    uid: pod.uid,
    ordinal: pod.ordinal,
    revision: pod.revision,
    ready: pod.ready,
    phase: pod.phase,
    deleting: pod.deletedTick !== undefined,
    waitingReason: pod.waitingReason,
    waitingMessage: pod.waitingMessage,
    restartCount: pod.restartCount,
    node: pod.node,
    images: [...pod.images],
    ...(controllerUidOf(pod) ? { controllerUid: controllerUidOf(pod) } : {}),
  };
}

function controllerUidOf(pod: Pod): string | undefined {
  return pod.labels['batch.kubernetes.io/controller-uid'] ?? pod.labels['controller-uid'];
}
