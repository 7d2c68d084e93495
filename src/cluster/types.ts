/**
 * Plain data shapes of what the tool observes and creates. Kubernetes field names are kept where a
 * value is copied verbatim (env, envFrom, Job manifests), so nothing is lost in translation; the
 * client library's classes never leave src/cluster/.
 */

import type { WorkloadOwner } from './workload-owner.js';

export type WorkloadKind = 'Deployment' | 'StatefulSet';

export interface WorkloadRef {
  readonly kind: WorkloadKind;
  readonly name: string;
}

export interface KeySelector {
  name: string;
  key: string;
  optional?: boolean;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: KeySelector;
    configMapKeyRef?: KeySelector;
    fieldRef?: { fieldPath: string; apiVersion?: string };
    resourceFieldRef?: { resource: string; containerName?: string; divisor?: string };
  };
}

export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export interface ContainerState {
  readonly name: string;
  readonly image: string;
  readonly env: readonly EnvVar[];
  readonly envFrom: readonly EnvFromSource[];
}

export interface PodState {
  readonly name: string;
  readonly uid: string;
  /** StatefulSet pods: the ordinal from the name. */
  readonly ordinal: number | undefined;
  /** The controller-revision-hash label. */
  readonly revision: string | undefined;
  readonly ready: boolean;
  readonly phase: string;
  readonly deleting: boolean;
  /** A container's waiting reason (CrashLoopBackOff, ImagePullBackOff…) when it has one. */
  readonly waitingReason: string | undefined;
  readonly waitingMessage: string | undefined;
  readonly restartCount: number;
  /** The images of the pod's containers, as in its spec. */
  readonly images: readonly string[];
  /** The node it is bound to (spec.nodeName); undefined while unscheduled. */
  readonly node?: string | undefined;
  /**
   * A Job's pod: the uid of the Job object that made it (its batch.kubernetes.io/controller-uid or
   * controller-uid label), which tells it apart from a pod of an older Job of the same name.
   */
  readonly controllerUid?: string | undefined;
}

/**
 * A StatefulSet pod known only by its ordinal, revision and readiness (a snapshot, a spec's
 * assumption): not being deleted, not waiting, never restarted.
 */
export function statefulSetPod(set: string, ordinal: number, revision: string, ready: boolean, fields: { uid?: string; images?: readonly string[] } = {}): PodState {
  return {
    name: `${set}-${ordinal}`,
    uid: fields.uid ?? '',
    ordinal,
    revision,
    ready,
    phase: ready ? 'Running' : 'Pending',
    deleting: false,
    waitingReason: undefined,
    waitingMessage: undefined,
    restartCount: 0,
    images: fields.images ?? [],
  };
}

export interface WorkloadState {
  readonly kind: WorkloadKind;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly generation: number;
  readonly observedGeneration: number;
  readonly replicas: number;
  /** status.replicas: every pod the controller counts, old ones included. */
  readonly statusReplicas: number;
  readonly readyReplicas: number;
  readonly updatedReplicas: number;
  readonly availableReplicas: number;
  readonly containers: readonly ContainerState[];
  readonly imagePullSecrets: readonly string[];
  readonly serviceAccountName: string | undefined;
  /** Deployment: RollingUpdate|Recreate; StatefulSet: RollingUpdate|OnDelete. */
  readonly strategy: string;
  /** StatefulSet RollingUpdate partition (0 when unset). */
  readonly partition: number;
  /** The user's own partition as a run recorded it on the StatefulSet while rolling it (ANNOTATION_PARTITION); undefined when none is. */
  readonly userPartition?: number | undefined;
  readonly currentRevision: string | undefined;
  readonly updateRevision: string | undefined;
  /** Deployment conditions that matter for a rollout, e.g. Progressing=False/ProgressDeadlineExceeded. */
  readonly conditions: readonly { type: string; status: string; reason?: string; message?: string }[];
  /** The pod selector in query-string form. */
  readonly selector: string;
  /** StatefulSet pods, by ordinal; empty for Deployments. */
  readonly pods: readonly PodState[];
  /** Who manages the workload (Helm release, Argo CD, Flux), from its labels and annotations. */
  readonly owner: WorkloadOwner;
}

export interface JobManifest {
  apiVersion: 'batch/v1';
  kind: 'Job';
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  spec: {
    backoffLimit: number;
    activeDeadlineSeconds: number;
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        restartPolicy: 'Never';
        /** Pinned to a node, past the scheduler (pre-pull: an image onto a given node). */
        nodeName?: string;
        serviceAccountName?: string;
        imagePullSecrets?: { name: string }[];
        containers: {
          name: string;
          image: string;
          command?: string[];
          args?: string[];
          env?: EnvVar[];
          envFrom?: EnvFromSource[];
        }[];
      };
    };
  };
}
