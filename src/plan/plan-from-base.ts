import { statefulSetPod, type PodState, type WorkloadState } from '../cluster/types.js';
import type { ClusterSpec, Component } from '../spec/schema.js';
import { diffSpecs, type SpecDiff } from './base-diff.js';
import { computePlan } from './compute-plan.js';
import { imageFor } from './image-ref.js';
import type { ObservedState } from './plan-input.js';
import { isJobStep, type EnvSource, type Plan } from './plan-types.js';

export interface BasePlan {
  readonly plan: Plan;
  readonly diff: SpecDiff;
}

export interface BasePlanOptions {
  readonly baseFile: string;
  readonly file: string;
  readonly allowDowngrade?: boolean | undefined;
}

/** Marks the synthesised revision: every pod of the base state is on it and Ready. */
const BASE_REVISION = 'base';

/**
 * Plans the change from one revision of a spec to another without a cluster (a pull request from a
 * fork has no credentials): the base spec stands in for the cluster, as if every workload it names
 * ran the base version with the base spec's replicas, and the ordinary planner does the rest. So
 * what a reviewer sees is what `apply` would do to a cluster that matches the base spec; apply
 * itself re-reads the real cluster.
 *
 * A component only in the new spec is assumed to run the base version too (it is most often an
 * existing workload the spec starts to manage), and the plan warns that this is an assumption.
 * A component only in the base spec gets no steps: it stays where it is.
 */
export function planFromBase(base: ClusterSpec, target: ClusterSpec, options: BasePlanOptions): BasePlan {
  const diff = diffSpecs(base, target, { baseFile: options.baseFile, file: options.file });
  const allowDowngrade = options.allowDowngrade ?? false;
  // First the offline plan from the base version: it refuses a forbidden version change with one
  // message instead of one per component, and knows where each Job's env is copied from.
  const offline = computePlan(target, { mode: 'offline', from: base.version }, { allowDowngrade });
  const planned = computePlan(target, { mode: 'live', observed: synthesiseObserved(base, target) }, { allowDowngrade });

  const envSources = new Map<string, EnvSource>();
  for (const step of offline.steps) if (isJobStep(step) && step.envSource) envSources.set(step.id, step.envSource);
  const steps = planned.steps.map((step) => {
    const envSource = envSources.get(step.id);
    return envSource && isJobStep(step) ? { ...step, envSource } : step;
  });
  const componentVersions = Object.fromEntries(target.components.map((c) => [c.name, offline.from ?? base.version]));
  const warnings = [...diffWarnings(diff, base, target), ...planned.warnings];
  if (steps.length === 0) {
    // Init jobs run only as part of an upgrade: a reviewer must not think a new one runs on merge.
    for (const name of [...diff.initJobs.added, ...diff.initJobs.changed.map((j) => j.name)]) {
      warnings.push(`init job ${name}: nothing needs an upgrade, so it does not run now; it runs with the next upgrade`);
    }
  }
  // Nobody was observed to own anything: a base plan has no cluster, so no ownership either.
  const { ownership: _none, ...rest } = planned;
  const plan: Plan = {
    ...rest,
    mode: 'offline',
    from: offline.from ?? base.version,
    componentVersions,
    steps,
    warnings: warnings.filter((w, i) => warnings.indexOf(w) === i),
  };
  return { plan, diff };
}

/** The cluster as the base spec describes it, keyed the way the new spec names its workloads. */
export function synthesiseObserved(base: ClusterSpec, target: ClusterSpec): ObservedState {
  const baseByName = new Map(base.components.map((c) => [c.name, c]));
  const workloads = new Map<string, WorkloadState>();
  for (const component of target.components) {
    const before = baseByName.get(component.name);
    // The base spec's image settings decide what runs now; an added component gets them too,
    // unless the new spec names its repository.
    const image = imageFor(base.images, before ?? component, base.version);
    const replicas = before ? (before.replicas ?? 1) : (component.replicas ?? 1);
    workloads.set(component.workload, workloadAt(target.namespace, component, image, replicas));
  }
  return { workloads };
}

function workloadAt(namespace: string, component: Component, image: string, replicas: number): WorkloadState {
  const { kind, name } = component.ref;
  const pods: PodState[] =
    kind === 'StatefulSet'
      ? Array.from({ length: replicas }, (_, i) => {
          const ordinal = replicas - 1 - i;
          return statefulSetPod(name, ordinal, BASE_REVISION, true, { uid: `${name}-${ordinal}`, images: [image] });
        })
      : [];
  return {
    kind,
    name,
    namespace,
    uid: component.workload,
    generation: 1,
    observedGeneration: 1,
    replicas,
    statusReplicas: replicas,
    readyReplicas: replicas,
    updatedReplicas: replicas,
    availableReplicas: replicas,
    // Named as the new spec expects: a changed `container:` is reported by the diff, not planned around.
    containers: [{ name: component.container ?? component.name, image, env: [], envFrom: [] }],
    imagePullSecrets: [],
    serviceAccountName: undefined,
    strategy: 'RollingUpdate',
    partition: 0,
    currentRevision: BASE_REVISION,
    updateRevision: BASE_REVISION,
    conditions: [],
    // Never queried: the planner reads pods from `pods`; only the executor lists by selector.
    selector: `app.kubernetes.io/name=${name}`,
    pods,
    owner: { manager: 'none' },
  };
}

function diffWarnings(diff: SpecDiff, base: ClusterSpec, target: ClusterSpec): string[] {
  const warnings: string[] = [];
  if (base.name !== target.name || base.namespace !== target.namespace) {
    warnings.push(
      `the base spec describes ${base.namespace}/${base.name} and the new one ${target.namespace}/${target.name}; the plan assumes they are the same installation`,
    );
  }
  for (const added of diff.components.added) {
    warnings.push(`${added.name}: not in the base spec; assumed to run ${diff.from} like the rest (apply reads the version ${added.workload} really runs)`);
  }
  if (diff.from !== diff.to) {
    for (const removed of diff.components.removed) {
      warnings.push(`${removed.name}: left the spec, so ${removed.workload} is no longer upgraded and stays on ${diff.from} while the rest moves to ${diff.to}`);
    }
  }
  if (base.checkpointName !== target.checkpointName) {
    warnings.push(`the checkpoint ConfigMap changes from ${base.checkpointName} to ${target.checkpointName}: a run recorded under the old name is not resumed`);
  }
  return warnings;
}
