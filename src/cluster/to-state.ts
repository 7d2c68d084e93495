import type { JobState, JobSpecFacts, ConfigMapState, LeaseState } from './port.js';
import { ANNOTATION_PARTITION } from '../labels.js';
import { ownerOf } from './workload-owner.js';
import type { ContainerState, EnvFromSource, EnvVar, PodState, WorkloadKind, WorkloadState } from './types.js';

/* Maps API objects (as JSON) to the tool's plain shapes. Kept apart from I/O so tests feed real responses. */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function toWorkloadState(kind: WorkloadKind, obj: Json, pods: readonly PodState[]): WorkloadState {
  const spec = obj.spec ?? {};
  const status = obj.status ?? {};
  const podSpec = spec.template?.spec ?? {};
  const strategy = kind === 'StatefulSet' ? (spec.updateStrategy?.type ?? 'RollingUpdate') : (spec.strategy?.type ?? 'RollingUpdate');
  return {
    kind,
    name: obj.metadata?.name ?? '',
    namespace: obj.metadata?.namespace ?? '',
    uid: obj.metadata?.uid ?? '',
    generation: obj.metadata?.generation ?? 0,
    observedGeneration: status.observedGeneration ?? 0,
    replicas: spec.replicas ?? 1,
    statusReplicas: status.replicas ?? 0,
    readyReplicas: status.readyReplicas ?? 0,
    updatedReplicas: status.updatedReplicas ?? 0,
    availableReplicas: status.availableReplicas ?? 0,
    containers: (podSpec.containers ?? []).map(toContainerState),
    imagePullSecrets: (podSpec.imagePullSecrets ?? []).map((s: Json) => s.name).filter(Boolean),
    serviceAccountName: podSpec.serviceAccountName || undefined,
    strategy,
    partition: kind === 'StatefulSet' ? (spec.updateStrategy?.rollingUpdate?.partition ?? 0) : 0,
    userPartition: kind === 'StatefulSet' ? recordedUserPartition(obj.metadata?.annotations?.[ANNOTATION_PARTITION]) : undefined,
    currentRevision: status.currentRevision,
    updateRevision: status.updateRevision,
    conditions: (status.conditions ?? []).map((c: Json) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })),
    selector: selectorString(spec.selector),
    pods: [...pods].sort((a, b) => (b.ordinal ?? 0) - (a.ordinal ?? 0)),
    owner: ownerOf(obj.metadata?.labels ?? {}, obj.metadata?.annotations ?? {}, obj.metadata?.namespace ?? ''),
  };
}

/** The annotation's value when it is a partition (a whole number ≥ 0); anything else counts as none. */
function recordedUserPartition(value: unknown): number | undefined {
  return typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : undefined;
}

function toContainerState(c: Json): ContainerState {
  return { name: c.name, image: c.image ?? '', env: (c.env ?? []) as EnvVar[], envFrom: (c.envFrom ?? []) as EnvFromSource[] };
}

export function toPodState(obj: Json): PodState {
  const name: string = obj.metadata?.name ?? '';
  const ordinalMatch = /-(\d+)$/.exec(name);
  const status = obj.status ?? {};
  const statuses: Json[] = [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])];
  const waiting = statuses.find((s) => s.state?.waiting?.reason && s.state.waiting.reason !== 'PodInitializing' && s.state.waiting.reason !== 'ContainerCreating');
  const ready = (status.conditions ?? []).some((c: Json) => c.type === 'Ready' && c.status === 'True');
  const labels = obj.metadata?.labels ?? {};
  const controllerUid: string | undefined = labels['batch.kubernetes.io/controller-uid'] ?? labels['controller-uid'];
  return {
    name,
    uid: obj.metadata?.uid ?? '',
    ordinal: ordinalMatch ? Number(ordinalMatch[1]) : undefined,
    revision: obj.metadata?.labels?.['controller-revision-hash'],
    ready,
    phase: status.phase ?? 'Unknown',
    deleting: Boolean(obj.metadata?.deletionTimestamp),
    waitingReason: waiting?.state?.waiting?.reason,
    waitingMessage: waiting?.state?.waiting?.message,
    restartCount: statuses.reduce((sum, s) => sum + (s.restartCount ?? 0), 0),
    images: (obj.spec?.containers ?? []).map((c: Json) => c.image),
    node: obj.spec?.nodeName || undefined,
    ...(controllerUid ? { controllerUid } : {}),
  };
}

export function toJobState(obj: Json): JobState {
  const status = obj.status ?? {};
  return {
    name: obj.metadata?.name ?? '',
    uid: obj.metadata?.uid ?? '',
    labels: obj.metadata?.labels ?? {},
    active: status.active ?? 0,
    succeeded: status.succeeded ?? 0,
    failed: status.failed ?? 0,
    conditions: (status.conditions ?? []).map((c: Json) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })),
    deleting: Boolean(obj.metadata?.deletionTimestamp),
    createdAt: obj.metadata?.creationTimestamp,
    suspended: obj.spec?.suspend === true,
    startTime: status.startTime,
    ...(obj.spec ? { spec: toJobSpecFacts(obj.spec) } : {}),
  };
}

function toJobSpecFacts(spec: Json): JobSpecFacts {
  return {
    completions: spec.completions ?? undefined,
    parallelism: spec.parallelism ?? undefined,
    backoffLimit: spec.backoffLimit ?? undefined,
    activeDeadlineSeconds: spec.activeDeadlineSeconds ?? undefined,
    completionMode: spec.completionMode ?? undefined,
    successPolicy: spec.successPolicy != null,
    podFailurePolicy: spec.podFailurePolicy != null,
    managedBy: spec.managedBy ?? undefined,
  };
}

export function toConfigMapState(obj: Json): ConfigMapState {
  return { name: obj.metadata?.name ?? '', resourceVersion: obj.metadata?.resourceVersion ?? '', data: obj.data ?? {}, labels: obj.metadata?.labels ?? {} };
}

export function toLeaseState(obj: Json): LeaseState {
  const spec = obj.spec ?? {};
  return {
    name: obj.metadata?.name ?? '',
    resourceVersion: obj.metadata?.resourceVersion ?? '',
    holderIdentity: spec.holderIdentity || undefined,
    leaseDurationSeconds: spec.leaseDurationSeconds,
    acquireTime: spec.acquireTime,
    renewTime: spec.renewTime,
    annotations: obj.metadata?.annotations ?? {},
  };
}

/** A label selector (matchLabels and matchExpressions) in the query-string form. */
export function selectorString(selector: Json | undefined): string {
  if (!selector) return '';
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}
