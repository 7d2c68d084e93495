/**
 * The StatefulSet controller of the fake (podManagementPolicy OrderedReady), run once a tick:
 *
 * - a missing pod is created first, lowest ordinal first; any pod not Ready (or terminating) blocks
 *   the controller;
 * - then RollingUpdate deletes one pod at a time, highest ordinal first, down to the partition. A
 *   deleted pod comes back on currentRevision below the partition, else on updateRevision (OnDelete:
 *   always updateRevision, and only the executor deletes pods);
 * - currentRevision follows updateRevision only for RollingUpdate with every pod updated and Ready
 *   (never for OnDelete, as on a real cluster).
 */
import type { ClusterState, Workload } from './cluster-state.js';
import { markDeleting, ownedPods, podEvent, podSnapshot } from './pods.js';
import { newWorkload, newWorkloadPod, registerRevision, seedPod, withImage, type WorkloadOptions } from './workload-objects.js';

export interface StatefulSetOptions extends WorkloadOptions {
  readonly strategy?: 'RollingUpdate' | 'OnDelete';
  readonly partition?: number;
  /** Seed a rollout in progress: the image of the main container of the pod at each ordinal. */
  readonly podImages?: readonly (string | undefined)[];
}

/** A StatefulSet whose pods all run (a rollout in progress when podImages differ from the template). */
export function seedStatefulSet(s: ClusterState, namespace: string, name: string, options: StatefulSetOptions): void {
  const w = newWorkload(s, 'StatefulSet', namespace, name, options);
  w.strategy = options.strategy ?? 'RollingUpdate';
  w.partition = options.partition ?? 0;
  const updateRevision = registerRevision(w, w.template);
  let currentRevision = updateRevision;
  for (let ordinal = 0; ordinal < w.replicas; ordinal++) {
    const image = options.podImages?.[ordinal];
    const template = image === undefined ? w.template : withImage(w.template, w.template.containers[0]!.name, image);
    const revision = registerRevision(w, template);
    if (ordinal === 0) currentRevision = revision;
    seedPod(s, w, `${name}-${ordinal}`, ordinal, revision);
  }
  w.status.updateRevision = updateRevision;
  w.status.currentRevision = currentRevision;
  statefulSetStatus(s, w);
}

export function syncStatefulSet(s: ClusterState, w: Workload): void {
  const updateRevision = registerRevision(w, w.template);
  const currentRevision = w.status.currentRevision ?? updateRevision;
  w.status = { ...w.status, updateRevision, observedGeneration: w.generation };
  const byOrdinal = new Map(ownedPods(s, w).map((p) => [p.ordinal!, p]));
  let blocked = false;
  for (let ordinal = 0; ordinal < w.replicas; ordinal++) {
    const pod = byOrdinal.get(ordinal);
    if (!pod) {
      const revision = w.strategy === 'RollingUpdate' && ordinal < w.partition ? currentRevision : updateRevision;
      const created = newWorkloadPod(s, w, `${w.name}-${ordinal}`, ordinal, revision);
      podEvent(s, 'pod-created', created, podSnapshot(s, w));
      blocked = true;
      break;
    }
    if (pod.deletedTick !== undefined || !pod.ready) {
      blocked = true;
      break;
    }
  }
  if (!blocked && w.strategy === 'RollingUpdate') {
    for (let target = w.replicas - 1; target >= w.partition; target--) {
      const pod = byOrdinal.get(target)!;
      if (pod.revision !== updateRevision && pod.deletedTick === undefined) {
        podEvent(s, 'pod-update', pod, { from: pod.revision ?? '', to: updateRevision, ...podSnapshot(s, w) });
        markDeleting(s, pod, 'controller');
        break;
      }
      if (!pod.ready || pod.deletedTick !== undefined) break;
    }
  }
  statefulSetStatus(s, w);
}

function statefulSetStatus(s: ClusterState, w: Workload): void {
  const pods = ownedPods(s, w);
  const live = pods.filter((p) => p.deletedTick === undefined);
  const ready = live.filter((p) => p.ready).length;
  const updated = live.filter((p) => p.revision === w.status.updateRevision).length;
  let currentRevision = w.status.currentRevision;
  if (w.strategy === 'RollingUpdate' && updated === w.replicas && ready === w.replicas && pods.length === w.replicas) currentRevision = w.status.updateRevision;
  w.status = { ...w.status, replicas: pods.length, readyReplicas: ready, availableReplicas: ready, updatedReplicas: updated, currentRevision };
}
