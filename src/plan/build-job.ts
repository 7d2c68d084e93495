import type { EnvFromSource, EnvVar, JobManifest } from '../cluster/types.js';
import { ANNOTATION_TARGET, LABEL_CLUSTER, LABEL_STEP, MANAGED_BY, MANAGED_BY_LABEL } from '../labels.js';
import { hashOf } from './hash.js';


export interface JobInput {
  readonly cluster: string;
  readonly namespace: string;
  /** Short purpose for the name and label: maintenance-start, init-catalog-migrations… */
  readonly purpose: string;
  readonly targetVersion: string;
  readonly containerName: string;
  readonly image: string;
  readonly command?: readonly string[] | undefined;
  readonly args?: readonly string[] | undefined;
  readonly env?: readonly EnvVar[] | undefined;
  readonly envFrom?: readonly EnvFromSource[] | undefined;
  readonly imagePullSecrets?: readonly string[] | undefined;
  readonly serviceAccountName?: string | undefined;
  readonly backoffLimit: number;
  readonly timeoutMs: number;
  /** Pin the pod to this node (pre-pull). */
  readonly nodeName?: string | undefined;
}

/**
 * A Job manifest with a deterministic name: the same Job content always gets the same name, so a
 * resumed run adopts the Job it created before, and a corrected Job (new command, new env) gets a
 * new one instead of colliding with the failed one.
 */
export function buildJob(input: JobInput): JobManifest {
  const container: JobManifest['spec']['template']['spec']['containers'][number] = {
    name: input.containerName,
    image: input.image,
  };
  if (input.command?.length) container.command = [...input.command];
  if (input.args?.length) container.args = [...input.args];
  if (input.env?.length) container.env = input.env.map((e) => structuredClone(e));
  if (input.envFrom?.length) container.envFrom = input.envFrom.map((e) => structuredClone(e));

  const podSpec: JobManifest['spec']['template']['spec'] = { restartPolicy: 'Never', containers: [container] };
  if (input.nodeName) podSpec.nodeName = input.nodeName;
  if (input.serviceAccountName) podSpec.serviceAccountName = input.serviceAccountName;
  if (input.imagePullSecrets?.length) podSpec.imagePullSecrets = input.imagePullSecrets.map((name) => ({ name }));

  const spec: JobManifest['spec'] = {
    backoffLimit: input.backoffLimit,
    activeDeadlineSeconds: Math.max(1, Math.ceil(input.timeoutMs / 1000)),
    template: { metadata: { labels: {} }, spec: podSpec },
  };
  const name = jobName(input.cluster, input.purpose, input.targetVersion, hashOf(spec).slice(0, 6));
  const labels = { [MANAGED_BY_LABEL]: MANAGED_BY, 'app.kubernetes.io/name': 'peerdb', [LABEL_CLUSTER]: input.cluster, [LABEL_STEP]: input.purpose };
  spec.template.metadata.labels = { ...labels };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: input.namespace, labels, annotations: { [ANNOTATION_TARGET]: input.targetVersion } },
    spec,
  };
}

/** `<cluster>-<purpose>-<version>-<hash>`, shortened to the 63 characters a Job name may have. */
export function jobName(cluster: string, purpose: string, version: string, hash: string): string {
  const versionSlug = version.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const tail = `-${versionSlug}-${hash}`;
  const head = `${cluster}-${purpose}`.slice(0, 63 - tail.length).replace(/-+$/, '');
  return `${head}${tail}`;
}

/** Env copied from a workload, minus the names `drop` (the Job sets its own), plus `extra`. */
export function mergeEnv(copied: readonly EnvVar[], extra: readonly EnvVar[], drop: readonly string[] = []): EnvVar[] {
  const replaced = new Set([...drop, ...extra.map((e) => e.name)]);
  return [...copied.filter((e) => !replaced.has(e.name)), ...extra];
}
