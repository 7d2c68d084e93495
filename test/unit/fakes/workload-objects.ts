/**
 * Deployments and StatefulSets as the API server stores them: creation (seeding), revisions
 * (ControllerRevisions / ReplicaSets, by a hash of the pod template), their pods, the patch the
 * API accepts (image, partition), and the view the adapter reports. The controllers that act on
 * them are statefulsets.ts and deployments.ts.
 */
import { createHash } from 'node:crypto';
import { copy, type ClusterState, type Pod, type Template, type Workload } from './cluster-state.js';
import { invalid, notFound } from './api-rules.js';
import { createPod, ownedPods, podSnapshot, podState, troubleOf } from './pods.js';
import type { WorkloadPatch, WriteOptions } from '../../../src/cluster/port.js';
import type { EnvFromSource, EnvVar, WorkloadKind, WorkloadRef, WorkloadState } from '../../../src/cluster/types.js';
import type { WorkloadOwner } from '../../../src/cluster/workload-owner.js';

export interface WorkloadOptions {
  readonly image: string;
  readonly replicas?: number;
  /** Name of the container (default: the workload's name). */
  readonly container?: string;
  readonly env?: readonly EnvVar[];
  readonly envFrom?: readonly EnvFromSource[];
  readonly imagePullSecrets?: readonly string[];
  readonly serviceAccountName?: string;
  readonly extraContainers?: readonly { name: string; image: string }[];
  /** Pod selector labels (default { app: <name> }). */
  readonly selector?: Readonly<Record<string, string>>;
  readonly readyAfterTicks?: number;
  /** Who manages it, as the adapter would read it from labels and annotations. */
  readonly owner?: WorkloadOwner;
}

export const PLURAL = { Deployment: 'deployments', StatefulSet: 'statefulsets' } as const;

export function key(ref: WorkloadRef): string {
  return `${ref.kind}/${ref.name}`;
}

export function newWorkload(s: ClusterState, kind: WorkloadKind, namespace: string, name: string, options: WorkloadOptions): Workload {
  const ns = s.addNamespace(namespace);
  const containerName = options.container ?? name;
  const w: Workload = {
    owner: copy(options.owner ?? { manager: 'none' }),
    kind,
    name,
    namespace,
    uid: s.uid(),
    rv: '',
    generation: 1,
    replicas: options.replicas ?? 1,
    selector: { ...(options.selector ?? { app: name }) },
    template: {
      containers: [
        { name: containerName, image: options.image, env: copy([...(options.env ?? [])]), envFrom: copy([...(options.envFrom ?? [])]) },
        ...(options.extraContainers ?? []).map((c) => ({ name: c.name, image: c.image, env: [], envFrom: [] })),
      ],
      imagePullSecrets: [...(options.imagePullSecrets ?? [])],
      serviceAccountName: options.serviceAccountName,
    },
    strategy: 'RollingUpdate',
    partition: 0,
    readyAfterTicks: options.readyAfterTicks ?? s.readyAfterTicks,
    progressDeadlineSeconds: 600,
    revisions: new Map(),
    status: { observedGeneration: 1, replicas: 0, readyReplicas: 0, updatedReplicas: 0, availableReplicas: 0, currentRevision: undefined, updateRevision: undefined, conditions: [] },
    lastProgressAt: s.clock.now(),
    progressMark: '',
  };
  ns.workloads.set(`${kind}/${name}`, w);
  w.rv = s.nextRv();
  return w;
}

/** The revision of a template (StatefulSet: `name-hash`, Deployment: the pod-template-hash), registered once. */
export function registerRevision(w: Workload, template: Template): string {
  const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
  const revision = w.kind === 'StatefulSet' ? `${w.name}-${hash}` : hash;
  if (!w.revisions.has(revision)) w.revisions.set(revision, copy(template));
  return revision;
}

/** A pod that has been running since before the test began: Ready unless its images misbehave. */
export function seedPod(s: ClusterState, w: Workload, name: string, ordinal: number | undefined, revision: string): void {
  const pod = newWorkloadPod(s, w, name, ordinal, revision);
  pod.phase = 'Running';
  pod.ready = troubleOf(s, pod.images, false).healthy;
  pod.createdTick = s.ticks - pod.readyAfterTicks;
}

export function newWorkloadPod(s: ClusterState, w: Workload, name: string, ordinal: number | undefined, revision: string): Pod {
  const template = w.revisions.get(revision)!;
  const labels =
    w.kind === 'StatefulSet'
      ? { ...w.selector, 'controller-revision-hash': revision, 'statefulset.kubernetes.io/pod-name': name, 'apps.kubernetes.io/pod-index': String(ordinal) }
      : { ...w.selector, 'pod-template-hash': revision };
  return createPod(s, w.namespace, name, { kind: w.kind, name: w.name }, labels, template.containers.map((c) => c.image), {
    ordinal,
    revision,
    readyAfterTicks: w.readyAfterTicks,
  });
}

/** A controller's sync: a status write (only when it changed) bumps the resourceVersion. */
export function writeStatus(s: ClusterState, w: Workload, sync: () => void): void {
  const before = JSON.stringify(w.status);
  sync();
  if (JSON.stringify(w.status) !== before) w.rv = s.nextRv();
}

export function withImage(template: Template, container: string, image: string): Template {
  const next = copy(template);
  next.containers = next.containers.map((c) => (c.name === container ? { ...c, image } : c));
  return next;
}

/**
 * The patch of an executor: a container's image, and (StatefulSet) the RollingUpdate partition,
 * which also sets the strategy to RollingUpdate. Spec changes bump the generation; the controller
 * acts on the next tick.
 */
export function patchWorkload(s: ClusterState, namespace: string, ref: WorkloadRef, patch: WorkloadPatch, options: WriteOptions): void {
  const what = `${PLURAL[ref.kind]}.apps ${namespace}/${ref.name}`;
  const w = s.namespaces.get(namespace)?.workloads.get(key(ref));
  if (!w) throw notFound(what);
  let template = w.template;
  if (patch.image) {
    const index = w.template.containers.findIndex((c) => c.name === patch.image!.container);
    // The real API server would append a new container {name, image} (strategic merge by name): an
    // executor must name an existing container, so the fake refuses loudly instead.
    if (index < 0) throw invalid(`spec.template.spec.containers: no container "${patch.image.container}" in ${what} (has ${w.template.containers.map((c) => c.name).join(', ')})`);
    if (!patch.image.image.trim()) throw invalid(`spec.template.spec.containers[${index}].image: Required value`);
    template = withImage(w.template, patch.image.container, patch.image.image);
  }
  if (patch.partition !== undefined) {
    if (ref.kind !== 'StatefulSet') throw invalid(`spec.updateStrategy: a Deployment has no partition (${what})`);
    if (!Number.isInteger(patch.partition) || patch.partition < 0) throw invalid(`spec.updateStrategy.rollingUpdate.partition: Invalid value: ${patch.partition}: must be greater than or equal to 0`);
  }
  if (options.dryRun) return;
  const before = { image: w.template, strategy: w.strategy, partition: w.partition };
  const snapshotBefore = w.kind === 'StatefulSet' ? podSnapshot(s, w) : undefined;
  let changed = false;
  if (patch.image && JSON.stringify(template) !== JSON.stringify(w.template)) {
    const from = w.template.containers.find((c) => c.name === patch.image!.container)!.image;
    w.template = template;
    changed = true;
    s.event({ type: 'image', namespace, kind: w.kind, name: w.name, from, to: patch.image.image, ...snapshotBefore });
  }
  if (patch.partition !== undefined) {
    if (w.strategy !== 'RollingUpdate') {
      s.event({ type: 'strategy', namespace, kind: w.kind, name: w.name, from: w.strategy, to: 'RollingUpdate' });
      w.strategy = 'RollingUpdate';
      changed = true;
    }
    if (w.partition !== patch.partition) {
      s.event({ type: 'partition', namespace, kind: w.kind, name: w.name, from: before.partition, to: patch.partition, ...snapshotBefore });
      w.partition = patch.partition;
      changed = true;
    }
  }
  if (changed) w.generation++;
  // Metadata: no new generation, a new resourceVersion all the same.
  if (patch.userPartition !== undefined && w.userPartition !== (patch.userPartition ?? undefined)) {
    if (ref.kind !== 'StatefulSet') throw invalid(`${what}: the user-partition annotation is for StatefulSets`);
    w.userPartition = patch.userPartition ?? undefined;
    changed = true;
  }
  if (changed) w.rv = s.nextRv();
}

/** The workload as the adapter reports it (a StatefulSet with its pods, highest ordinal first). */
export function workloadState(s: ClusterState, w: Workload): WorkloadState {
  const pods = w.kind === 'StatefulSet' ? ownedPods(s, w).map(podState).sort((a, b) => (b.ordinal ?? 0) - (a.ordinal ?? 0)) : [];
  return {
    owner: copy(w.owner),
    kind: w.kind,
    name: w.name,
    namespace: w.namespace,
    uid: w.uid,
    generation: w.generation,
    observedGeneration: w.status.observedGeneration,
    replicas: w.replicas,
    statusReplicas: w.status.replicas,
    readyReplicas: w.status.readyReplicas,
    updatedReplicas: w.status.updatedReplicas,
    availableReplicas: w.status.availableReplicas,
    containers: copy(w.template.containers),
    imagePullSecrets: [...w.template.imagePullSecrets],
    serviceAccountName: w.template.serviceAccountName,
    strategy: w.strategy,
    partition: w.kind === 'StatefulSet' ? w.partition : 0,
    userPartition: w.kind === 'StatefulSet' ? w.userPartition : undefined,
    currentRevision: w.status.currentRevision,
    updateRevision: w.status.updateRevision,
    conditions: copy(w.status.conditions),
    selector: Object.entries(w.selector).map(([k, v]) => `${k}=${v}`).join(','),
    pods,
  };
}

/** A workload of the namespace as the adapter reports it; undefined when there is none. */
export function peekWorkload(s: ClusterState, namespace: string, ref: WorkloadRef): WorkloadState | undefined {
  const w = s.namespaces.get(namespace)?.workloads.get(key(ref));
  return w && workloadState(s, w);
}
