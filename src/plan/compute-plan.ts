import type { HelmReleaseRead } from '../cluster/helm-release.js';
import type { ContainerState, EnvVar, WorkloadKind, WorkloadState } from '../cluster/types.js';
import { UserError } from '../errors.js';
import { durationMs } from '../spec/duration.js';
import type { ClusterSpec, ComponentSpec, InitJobSpec } from '../spec/schema.js';
import { buildJob, mergeEnv } from './build-job.js';
import { hashOf } from './hash.js';
import { uncoveredWorkloadWarnings } from './uncovered-workloads.js';
import { parseImageRef } from './image-ref.js';
import { ownershipWarnings, planOwnership } from './ownership.js';
import type { Change, EnvSource, Plan, PlanPeerDB, Step } from './plan-types.js';
import { checkVersionPolicy } from './version-policy.js';
import { IN_BETWEEN, type PeerDBObservation } from '../peerdb/flow-api.js';
import { compareVersions, parseVersion, versionFromTag, type Version } from './version.js';

/** What the planner knows of the cluster; absent for an offline plan. */
export interface ObservedState {
  /** Keyed by the spec's workload reference, e.g. `StatefulSet/flow-snapshot-worker`; undefined = not found. */
  readonly workloads: ReadonlyMap<string, WorkloadState | undefined>;
  /** An unfinished run recorded in the checkpoint, if any. */
  readonly unfinishedRun?: { readonly to: string; readonly stoppedAt: string | undefined } | undefined;
  /** Helm releases that own workloads, keyed `namespace/release` (ownership.ts releaseKey). */
  readonly helmReleases?: ReadonlyMap<string, HelmReleaseRead> | undefined;
  /** Every Deployment and StatefulSet of the namespace, to name PeerDB workloads the spec leaves out. */
  readonly namespaceWorkloads?: readonly WorkloadState[] | 'forbidden' | undefined;
  /**
   * The StatefulSet partitions the user had, as recorded by a run that did not finish (by workload
   * reference): the partition found now may be the one that run left mid-roll, not the user's.
   */
  readonly userPartitions?: ReadonlyMap<string, number> | undefined;
  /** PeerDB's own state from flow-api (live, with maintenance mode). */
  readonly peerdb?: PeerDBObservation | undefined;
}

export interface PlanOptions {
  /** Offline: the version the cluster runs now. */
  readonly from?: string | undefined;
  readonly allowDowngrade?: boolean | undefined;
  /** Where the user installs the Helm chart from: fills CHART in the advised `helm upgrade`. */
  readonly helmChart?: string | undefined;
}

const MIGRATIONS_ONLY = 'PEERDB_MIGRATIONS_ONLY';
const MIGRATIONS_DISABLED = 'PEERDB_MIGRATIONS_DISABLED';

/**
 * The upgrade plan: a pure function of the spec and what was observed (nothing observed = offline,
 * where every named workload is assumed to need the upgrade). Throws UserError for a plan that must
 * not run (policy, missing workloads), listing every reason at once.
 */
export function computePlan(spec: ClusterSpec, observed: ObservedState | undefined, options: PlanOptions = {}): Plan {
  const to = mustParse(spec.version);
  const targetTag = `${spec.images.tagPrefix}${to.tag}`;
  const problems: string[] = [];
  const warnings: string[] = [];
  const notices: string[] = [];
  const componentVersions: Record<string, string> = {};
  const resolved = new Map<string, ResolvedComponent>();
  const policy = new Map<string, string[]>();

  let from: Version | undefined;
  if (observed === undefined) {
    if (options.from !== undefined) {
      const parsed = parseVersion(options.from);
      if (!parsed.ok) throw new UserError(`--from: ${parsed.reason}`);
      from = parsed.version;
    } else {
      warnings.push('offline plan without --from: the current version is unknown, so downgrades and skipped versions cannot be checked');
    }
    for (const component of spec.components) {
      componentVersions[component.name] = from?.tag ?? 'unknown';
      resolved.set(component.name, offlineComponent(spec, component, targetTag, from));
    }
  } else {
    spec.components.forEach((component, index) => {
      const live = liveComponent(spec, component, index, targetTag, observed, problems);
      if (!live) return;
      resolved.set(component.name, live);
      componentVersions[component.name] = live.version?.tag ?? 'unknown';
      if (!live.version && live.currentTag !== undefined && live.currentImage !== live.targetImage) {
        warnings.push(`${component.name}: cannot tell the version of image ${live.currentImage} (tag is not ${spec.images.tagPrefix}vX.Y.Z)`);
      }
      if (live.currentRepository !== parseImageRef(live.targetImage).repository) {
        warnings.push(`${component.name}: the image repository changes from ${live.currentRepository} to ${parseImageRef(live.targetImage).repository}`);
      }
      if (live.version && live.currentImage !== live.targetImage) {
        const outcome = checkVersionPolicy(live.version, to, { allowDowngrade: options.allowDowngrade ?? false });
        for (const error of outcome.errors) policy.set(error, [...(policy.get(error) ?? []), component.name]);
      }
      if (!from || (live.version && compareVersions(live.version, from) < 0)) from = live.version ?? from;
    });
    warnings.push(...uncoveredWorkloadWarnings(spec, observed.namespaceWorkloads));
    if (observed.unfinishedRun) {
      notices.push(
        `an unfinished run to ${observed.unfinishedRun.to} is recorded in ConfigMap ${spec.namespace}/${spec.checkpointName}` +
          `${observed.unfinishedRun.stoppedAt ? ` (stopped at ${observed.unfinishedRun.stoppedAt})` : ''}; \`peerdb-upgrade apply --resume\` continues it`,
      );
    }
  }
  // One line per refusal, naming the components it concerns (usually all of them alike).
  for (const [error, names] of policy) problems.push(`${names.join(', ')}: ${error}`);
  if (problems.length > 0) throw new UserError(problems.join('\n'));

  if (from) {
    const outcome = checkVersionPolicy(from, to, { allowDowngrade: options.allowDowngrade ?? false });
    if (observed === undefined && outcome.errors.length > 0) throw new UserError(outcome.errors.join('\n'));
    warnings.push(...outcome.warnings.filter((w) => !warnings.includes(w)));
  }

  const componentSteps = spec.components.flatMap((component) => {
    const r = resolved.get(component.name);
    if (!r) return [];
    const steps = componentStepsFor(component, r, observed?.userPartitions?.get(component.workload));
    warnings.push(...partitionWarnings(component, r, steps, observed?.userPartitions?.get(component.workload)));
    return steps;
  });

  const steps: Step[] = [];
  if (componentSteps.length > 0) {
    const jobs = new JobFactory(spec, to.tag, resolved, warnings);
    steps.push({ id: 'preflight', kind: 'preflight', title: 'check version policy, workloads, health and permissions; take the lock', changes: [] });
    if (spec.maintenance) steps.push(jobs.maintenance('start'));
    for (const job of spec.initJobs) steps.push(jobs.init(job));
    steps.push(...componentSteps);
    if (spec.maintenance) {
      steps.push(jobs.maintenance('end'));
      steps.push({
        id: 'verify-mirrors',
        kind: 'verify-mirrors',
        title: `verify through flow-api: out of maintenance, version ${to.tag}, every mirror that ran before running again`,
        changes: [],
        timeoutMs: durationMs(spec.flowApi.verifyTimeout),
      });
    }
    steps.push({ id: 'complete', kind: 'complete', title: 'record the result and release the lock', changes: [] });
  }

  const hash = hashOf({ cluster: { name: spec.name, namespace: spec.namespace }, to: to.tag, steps });
  const ownership = observed === undefined ? undefined : planOwnership({ spec, workloads: observed.workloads, helmReleases: observed.helmReleases, to: to.tag, helmChart: options.helmChart });
  if (ownership) warnings.push(...ownershipWarnings(ownership, to.tag));
  // Mirrors change on their own; they are reported, not part of the plan's identity (hash).
  const peerdb = observed?.peerdb && spec.maintenance ? peerdbSummary(spec, observed.peerdb, warnings) : undefined;
  return {
    cluster: { name: spec.name, namespace: spec.namespace },
    mode: observed === undefined ? 'offline' : 'live',
    from: from?.tag,
    to: to.tag,
    componentVersions,
    hash,
    steps,
    warnings,
    notices,
    ...(ownership ? { ownership } : {}),
    summary: {
      steps: steps.length,
      jobs: steps.filter((s) => s.manifest || s.envSource).length,
      components: new Set(componentSteps.map((s) => s.component)).size,
      podRestarts: resolvedRestarts(componentSteps, resolved),
    },
    ...(peerdb ? { peerdb } : {}),
  };
}

/** What the upgrade will do to the mirrors, and the warnings that go with it. */
function peerdbSummary(spec: ClusterSpec, observation: PeerDBObservation, warnings: string[]): PlanPeerDB {
  if (!observation.ok) {
    warnings.push(
      spec.flowApi.reachability === 'required'
        ? `flow-api cannot be asked (${observation.reason}); apply refuses in preflight (spec.flowApi.reachability: required)`
        : `flow-api cannot be asked (${observation.reason}); mirrors will not be verified after the upgrade (spec.flowApi.reachability: best-effort)`,
    );
    return { reachable: false, reason: observation.reason, mirrors: [], willPause: [], waitFor: [], leftAlone: [] };
  }
  const { state } = observation;
  const mirrors = state.mirrors.map((m) => ({ name: m.name, status: m.status }));
  const willPause = mirrors.filter((m) => m.status === 'STATUS_RUNNING').map((m) => m.name);
  const waiting = mirrors.filter((m) => IN_BETWEEN.has(m.status));
  const leftAlone = mirrors.filter((m) => m.status !== 'STATUS_RUNNING' && !IN_BETWEEN.has(m.status)).map((m) => m.name);
  if (waiting.length > 0) {
    warnings.push(`maintenance-start will wait for ${waiting.length === 1 ? 'a mirror' : `${waiting.length} mirrors`} in snapshot or setup before pausing anything: ${waiting.map((m) => `${m.name} (${m.status})`).join(', ')}`);
  }
  if (state.instance === 'INSTANCE_STATUS_MAINTENANCE') warnings.push('PeerDB is in maintenance mode already (an earlier maintenance start that did not end?)');
  return { reachable: true, instance: state.instance, version: state.version, mirrors, willPause, waitFor: waiting.map((m) => m.name), leftAlone };
}

/**
 * A maintenance Job step on its own, for `peerdb-upgrade maintenance start|end`: the flow-maintenance
 * image of `version` (the version the flow workers run now), env copied from the running workload.
 */
export function maintenanceStep(spec: ClusterSpec, observed: ObservedState, mode: 'start' | 'end', version: string, tagPrefix = spec.images.tagPrefix): Step {
  if (!spec.maintenance) throw new UserError('the spec has no maintenance section: maintenance mode is not used for this installation');
  const source = spec.maintenance.envFrom;
  const index = spec.components.findIndex((c) => c.name === source);
  const problems: string[] = [];
  const resolved = new Map<string, ResolvedComponent>();
  const live = liveComponent(spec, spec.components[index]!, index, `${spec.images.tagPrefix}${version}`, observed, problems);
  if (!live) throw new UserError(problems.join('\n'));
  resolved.set(source, live);
  return new JobFactory({ ...spec, images: { ...spec.images, tagPrefix } }, version, resolved, []).maintenance(mode);
}

interface ResolvedComponent {
  readonly workloadKind: WorkloadKind;
  readonly workloadName: string;
  readonly containerName: string;
  readonly currentImage: string | undefined;
  readonly currentRepository: string | undefined;
  readonly currentTag: string | undefined;
  readonly version: Version | undefined;
  readonly targetImage: string;
  readonly state: WorkloadState | undefined;
  readonly container: ContainerState | undefined;
  /** Replicas: observed, or the spec's assumption offline. */
  readonly replicas: number;
}

export function targetImageOf(spec: ClusterSpec, component: ComponentSpec, targetTag: string): string {
  return `${component.image ?? `${spec.images.registry}/${component.name}`}:${targetTag}`;
}

function splitWorkload(ref: string): { kind: WorkloadKind; name: string } {
  const [kind, name] = ref.split('/') as [WorkloadKind, string];
  return { kind, name };
}

function offlineComponent(spec: ClusterSpec, component: ComponentSpec, targetTag: string, from: Version | undefined): ResolvedComponent {
  const { kind, name } = splitWorkload(component.workload);
  const repository = component.image ?? `${spec.images.registry}/${component.name}`;
  const currentTag = from ? `${spec.images.tagPrefix}${from.tag}` : undefined;
  return {
    workloadKind: kind,
    workloadName: name,
    containerName: component.container ?? component.name,
    currentImage: currentTag ? `${repository}:${currentTag}` : undefined,
    currentRepository: repository,
    currentTag,
    version: from,
    targetImage: targetImageOf(spec, component, targetTag),
    state: undefined,
    container: undefined,
    replicas: component.replicas ?? 1,
  };
}

function liveComponent(
  spec: ClusterSpec,
  component: ComponentSpec,
  index: number,
  targetTag: string,
  observed: ObservedState,
  problems: string[],
): ResolvedComponent | undefined {
  const { kind, name } = splitWorkload(component.workload);
  const where = component.entry !== undefined ? `spec.components[${component.entry}] (${component.name})` : `default component ${component.name}`;
  const state = observed.workloads.get(component.workload);
  if (!state) {
    const leaveOut = component.entry === undefined ? `; if this installation has none, leave it out: \`- { name: ${component.name}, skip: true }\` under spec.components` : '';
    problems.push(`${where}: ${kind} ${spec.namespace}/${name} not found${leaveOut}`);
    return undefined;
  }
  const container = pickContainer(state, component, where, problems);
  if (!container) return undefined;
  const image = parseImageRef(container.image);
  return {
    workloadKind: kind,
    workloadName: name,
    containerName: container.name,
    currentImage: container.image,
    currentRepository: image.repository,
    currentTag: image.tag,
    version: image.tag ? versionFromTag(image.tag, spec.images.tagPrefix) : undefined,
    targetImage: targetImageOf(spec, component, targetTag),
    state,
    container,
    replicas: state.replicas,
  };
}

function pickContainer(state: WorkloadState, component: ComponentSpec, where: string, problems: string[]): ContainerState | undefined {
  const names = state.containers.map((c) => c.name).join(', ');
  if (component.container !== undefined) {
    const found = state.containers.find((c) => c.name === component.container);
    if (!found) problems.push(`${where}: ${state.kind} ${state.namespace}/${state.name} has no container "${component.container}" (it has: ${names})`);
    return found;
  }
  const byName = state.containers.find((c) => c.name === component.name);
  if (byName) return byName;
  if (state.containers.length === 1) return state.containers[0];
  problems.push(`${where}: ${state.kind} ${state.namespace}/${state.name} has no container "${component.name}" and several others (${names}); name one with container:`);
  return undefined;
}

/** The partition to leave when the roll is done: the user's own, as recorded or as found. */
export function userPartitionOf(state: WorkloadState, recorded: number | undefined): number {
  return Math.min(recorded ?? state.partition, state.replicas);
}

/** Plan, apply and status say what happens to a partition the user set. */
function partitionWarnings(component: ComponentSpec, r: ResolvedComponent, steps: readonly Step[], recorded: number | undefined): string[] {
  const s = r.state;
  if (!s || r.workloadKind !== 'StatefulSet' || s.strategy === 'OnDelete' || steps.length === 0) return [];
  const out: string[] = [];
  const user = userPartitionOf(s, recorded);
  if (recorded !== undefined && recorded !== s.partition) {
    out.push(`${component.name}: StatefulSet/${s.name} has partition ${s.partition}, left by an unfinished run; the partition it found, ${user}, is the one kept`);
  }
  if (user > 0) {
    out.push(
      `${component.name}: StatefulSet/${s.name} has your updateStrategy.rollingUpdate.partition ${user}: every pod is upgraded (pods below the partition too, or the upgrade would not be done) and the partition is set back to ${user} at the end`,
    );
  }
  return out;
}

function componentStepsFor(component: ComponentSpec, r: ResolvedComponent, recordedPartition: number | undefined): Step[] {
  const object = `${r.workloadKind}/${r.workloadName}`;
  const timeoutMs = durationMs(component.readyTimeout);
  const needsImage = r.currentImage !== r.targetImage;
  const imageChange: Change = { object, field: `container ${r.containerName} image`, from: r.currentImage ?? null, to: r.targetImage };
  const workload = { kind: r.workloadKind, name: r.workloadName, container: r.containerName, strategy: r.state?.strategy ?? 'RollingUpdate' };

  if (r.workloadKind === 'Deployment') {
    const s = r.state;
    const unfinished = s !== undefined && (s.observedGeneration < s.generation || s.updatedReplicas < s.replicas || s.availableReplicas < s.replicas);
    if (!needsImage && !unfinished) return [];
    return [
      {
        id: `deployment-rollout/${component.name}`,
        kind: 'deployment-rollout',
        title: needsImage ? `roll out ${object} to ${r.targetImage}` : `wait for the rollout of ${object} to finish`,
        component: component.name,
        workload,
        image: r.targetImage,
        changes: needsImage ? [imageChange] : [],
        timeoutMs,
      },
    ];
  }

  // StatefulSet: partitioned rolling, highest ordinal first, one pod at a time.
  const s = r.state;
  // Offline, a StatefulSet already on the target image is assumed rolled.
  if (!s && !needsImage) return [];
  const onDelete = workload.strategy === 'OnDelete';
  // Every pod is rolled, also those below a partition the user set: an upgrade that leaves pods on
  // the old version is not done (and catalog migrations are forward-only). The user's partition
  // is set back once the last pod is done.
  const finalPartition = s && !onDelete ? userPartitionOf(s, recordedPartition) : 0;
  const steps: Step[] = [];
  if (needsImage) {
    const changes: Change[] = [imageChange];
    if (!onDelete) changes.push({ object, field: 'updateStrategy.rollingUpdate.partition', from: s?.partition ?? 0, to: r.replicas });
    steps.push({
      id: `statefulset-prepare/${component.name}`,
      kind: 'statefulset-prepare',
      title: onDelete ? `set the image of ${object} (OnDelete: no pod restarts yet)` : `hold every pod of ${object} (partition ${r.replicas}) and set the image`,
      component: component.name,
      workload,
      image: r.targetImage,
      changes,
      timeoutMs,
      finalPartition,
    });
  }
  let partition = needsImage ? r.replicas : (s?.partition ?? 0);
  for (let ordinal = r.replicas - 1; ordinal >= 0; ordinal--) {
    const pod = s?.pods.find((p) => p.ordinal === ordinal);
    const done = !needsImage && pod !== undefined && pod.revision === s?.updateRevision && pod.ready && !pod.deleting;
    if (done) {
      partition = Math.min(partition, ordinal);
      continue;
    }
    const podName = `${r.workloadName}-${ordinal}`;
    const changes: Change[] = [{ object: `Pod/${podName}`, field: 'image', from: needsImage ? (r.currentImage ?? null) : 'previous revision', to: r.targetImage }];
    if (!onDelete && partition > ordinal) changes.unshift({ object, field: 'updateStrategy.rollingUpdate.partition', from: partition, to: ordinal });
    steps.push({
      id: `statefulset-pod/${component.name}/${ordinal}`,
      kind: 'statefulset-pod',
      title: onDelete ? `delete ${podName} and wait for it to return updated and Ready` : `update ${podName} and wait for it to be Ready`,
      component: component.name,
      ordinal,
      workload,
      image: r.targetImage,
      changes,
      timeoutMs,
      finalPartition,
    });
    partition = Math.min(partition, ordinal);
  }
  // The last pod step sets the user's partition back.
  const last = steps.at(-1);
  if (!onDelete && finalPartition > 0 && last?.kind === 'statefulset-pod') {
    steps[steps.length - 1] = { ...last, changes: [...last.changes, { object, field: 'updateStrategy.rollingUpdate.partition', from: last.ordinal!, to: finalPartition }] };
  }
  return steps;
}

function resolvedRestarts(steps: readonly Step[], resolved: ReadonlyMap<string, ResolvedComponent>): number {
  let restarts = 0;
  for (const step of steps) {
    if (step.kind === 'statefulset-pod') restarts += 1;
    if (step.kind === 'deployment-rollout' && step.changes.length > 0) restarts += resolved.get(step.component!)?.replicas ?? 0;
  }
  return restarts;
}

function mustParse(text: string): Version {
  const parsed = parseVersion(text);
  if (!parsed.ok) throw new UserError(`spec.version: ${parsed.reason}`);
  return parsed.version;
}

/** Builds the Job steps; env is copied by reference from a component's container. */
class JobFactory {
  constructor(
    private readonly spec: ClusterSpec,
    private readonly to: string,
    private readonly resolved: ReadonlyMap<string, ResolvedComponent>,
    private readonly warnings: string[],
  ) {}

  maintenance(mode: 'start' | 'end'): Step {
    const m = this.spec.maintenance!;
    const args = ['--run-maintenance-flow', mode];
    if (m.useMaintenanceTaskQueue) args.push('--use-maintenance-task-queue');
    if (m.skipOnNoMirrors) args.push('--skip-on-no-mirrors');
    if (m.flowGrpcAddress) args.push('--flow-grpc-address', m.flowGrpcAddress);
    const image = `${this.spec.images.registry}/flow-maintenance:${this.spec.images.tagPrefix}${this.to}`;
    const kind = mode === 'start' ? 'maintenance-start' : 'maintenance-end';
    return this.jobStep({
      id: kind,
      kind,
      title:
        mode === 'start'
          ? 'enter maintenance mode: wait for running snapshots, pause mirrors (Job)'
          : 'leave maintenance mode: resume the mirrors paused at the start (Job)',
      purpose: kind,
      containerName: 'maintenance',
      image,
      // The image's entrypoint is `/home/peerdb/peer-flow maintenance`: give only its flags.
      args,
      source: m.envFrom,
      extraEnv: [],
      dropEnv: ['RUN_MAINTENANCE_FLOW'],
      backoffLimit: m.backoffLimit,
      timeoutMs: durationMs(m.timeout),
    });
  }

  init(job: InitJobSpec): Step {
    if (job.preset === 'catalog-migrations') {
      const server = this.spec.components.find((c) => c.name === 'peerdb-server');
      const repository = server?.image ?? `${this.spec.images.registry}/peerdb-server`;
      const source = job.envFrom ?? 'peerdb-server';
      const disabled = this.resolved.get(source)?.container?.env.find((e) => e.name === MIGRATIONS_DISABLED);
      if (disabled?.value === 'true') {
        this.warnings.push(`${source} sets ${MIGRATIONS_DISABLED}=true; init job ${job.name} runs the catalog migrations anyway`);
      }
      return this.jobStep({
        id: `init-job/${job.name}`,
        kind: 'init-job',
        title: `run catalog migrations with peerdb-server ${this.to} (Job)`,
        purpose: `init-${job.name}`,
        containerName: job.name,
        image: `${repository}:${this.spec.images.tagPrefix}${this.to}`,
        source,
        // peerdb-server refuses to start with both set.
        dropEnv: [MIGRATIONS_DISABLED],
        extraEnv: [...(job.env ?? []), { name: MIGRATIONS_ONLY, value: 'true' }],
        backoffLimit: job.backoffLimit,
        timeoutMs: durationMs(job.timeout),
      });
    }
    return this.jobStep({
      id: `init-job/${job.name}`,
      kind: 'init-job',
      title: `run init job ${job.name} (Job)`,
      purpose: `init-${job.name}`,
      containerName: job.name,
      image: job.image!,
      command: job.command,
      args: job.args,
      source: job.envFrom,
      extraEnv: job.env ?? [],
      dropEnv: [],
      backoffLimit: job.backoffLimit,
      timeoutMs: durationMs(job.timeout),
    });
  }

  private jobStep(p: {
    id: string;
    kind: Step['kind'];
    title: string;
    purpose: string;
    containerName: string;
    image: string;
    command?: readonly string[] | undefined;
    args?: readonly string[] | undefined;
    source: string | undefined;
    extraEnv: readonly EnvVar[];
    dropEnv: readonly string[];
    backoffLimit: number;
    timeoutMs: number;
  }): Step {
    const source = p.source === undefined ? undefined : this.resolved.get(p.source);
    const offlineSource = source !== undefined && source.container === undefined;
    const env = source?.container ? mergeEnv(source.container.env, p.extraEnv, p.dropEnv) : [...p.extraEnv];
    const manifest = buildJob({
      cluster: this.spec.name,
      namespace: this.spec.namespace,
      purpose: p.purpose,
      targetVersion: this.to,
      containerName: p.containerName,
      image: p.image,
      command: p.command,
      args: p.args,
      env,
      envFrom: source?.container?.envFrom,
      imagePullSecrets: source?.state?.imagePullSecrets,
      serviceAccountName: source?.state?.serviceAccountName,
      backoffLimit: p.backoffLimit,
      timeoutMs: p.timeoutMs,
    });
    const envSource: EnvSource | undefined =
      offlineSource && source
        ? { component: p.source!, workload: `${source.workloadKind}/${source.workloadName}`, container: source.containerName, extra: p.extraEnv }
        : undefined;
    return {
      id: p.id,
      kind: p.kind,
      title: p.title,
      job: manifest.metadata.name,
      image: p.image,
      changes: [{ object: `Job/${manifest.metadata.name}`, field: 'created', from: null, to: p.image }],
      manifest,
      ...(envSource ? { envSource } : {}),
      timeoutMs: p.timeoutMs,
    };
  }
}
