import { UserError } from '../errors.js';
import type { ClusterSpec } from '../spec/schema.js';
import { durationMs } from '../spec/duration.js';
import { IN_BETWEEN, type PeerDBObservation } from '../peerdb/flow-api.js';
import { componentSteps, partitionWarnings, podRestarts } from './component-steps.js';
import { hashOf } from './hash.js';
import { parseImageRef } from './image-ref.js';
import { JobSteps } from './job-steps.js';
import { ownershipWarnings, planOwnership } from './ownership.js';
import { uncoveredWorkloadWarnings } from './uncovered-workloads.js';
import type { ObservedState, PlanBasis, PlanOptions } from './plan-input.js';
import { isJobStep, type ComponentStep, type JobStep, type Plan, type PlanNote, type PlanPeerDB, type Step } from './plan-types.js';
import { resolveLive, resolveOffline, type ResolvedComponent } from './resolve-components.js';
import { groupRolls } from './rollout-groups.js';
import { checkVersionPolicy } from './version-policy.js';
import { compareVersions, parseVersion, type Version } from '../spec/version.js';

export type { ObservedState, PlanBasis, PlanOptions } from './plan-input.js';

/** The components resolved against the basis, what they run now, and what planning found on the way. */
interface Resolution {
  readonly resolved: Map<string, ResolvedComponent>;
  readonly componentVersions: Record<string, string>;
  readonly from: Version | undefined;
  readonly warnings: PlanNote[];
  readonly notices: PlanNote[];
}

/**
 * The upgrade plan: a pure function of the spec and what it starts from (offline, every named
 * workload is assumed to need the upgrade). Throws UserError for a plan that must not run (policy,
 * missing workloads), listing every reason at once.
 */
export function computePlan(spec: ClusterSpec, basis: PlanBasis, options: PlanOptions = {}): Plan {
  const to = mustParse(spec.version, 'spec.version');
  const allowDowngrade = options.allowDowngrade ?? false;
  const r = basis.mode === 'offline' ? resolveAllOffline(spec, to, basis.from) : resolveAllLive(spec, to, basis.observed, allowDowngrade);

  if (r.from) {
    const outcome = checkVersionPolicy(r.from, to, { allowDowngrade });
    // Live, each component's own refusal was raised above, naming it.
    if (basis.mode === 'offline' && outcome.errors.length > 0) throw new UserError(outcome.errors.join('\n'));
    r.warnings.push(...outcome.warnings.filter((w) => !r.warnings.includes(w)));
  }

  const rolls: ComponentStep[] = spec.components.flatMap((component) => {
    const resolved = r.resolved.get(component.name);
    if (!resolved) return [];
    const recorded = basis.mode === 'live' ? basis.observed.userPartitions?.get(component.workload) : undefined;
    const steps = componentSteps(component, resolved, recorded);
    r.warnings.push(...partitionWarnings(component, resolved, steps, recorded));
    return steps;
  });
  const steps: Step[] = [];
  if (rolls.length > 0) {
    const jobs = new JobSteps(spec, to.tag, r.resolved, r.warnings);
    steps.push({ id: 'preflight', kind: 'preflight', title: 'check version policy, workloads, health and permissions; take the lock', changes: [] });
    const start = spec.maintenance ? jobs.maintenance('start') : undefined;
    const inits = spec.initJobs.map((job) => jobs.init(job));
    const end = spec.maintenance ? jobs.maintenance('end') : undefined;
    if (spec.rollout.prePull) {
      const images = [...new Set([...(start ? [start.image] : []), ...inits.map((j) => j.image), ...rolls.map((s) => s.image), ...(end ? [end.image] : [])])];
      steps.push({
        id: 'pre-pull',
        kind: 'pre-pull',
        title: `pull ${images.length} image${images.length === 1 ? '' : 's'} onto the nodes running the installation, before mirrors pause (best effort, up to ${spec.rollout.prePull.timeout})`,
        changes: [],
        images,
        timeoutMs: durationMs(spec.rollout.prePull.timeout),
      });
    }
    if (start) steps.push(start);
    steps.push(...inits);
    steps.push(...groupRolls(rolls, spec.rollout.concurrent));
    if (end) {
      steps.push(end);
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

  const ownership =
    basis.mode === 'live' ? planOwnership({ spec, workloads: basis.observed.workloads, helmReleases: basis.observed.helmReleases, to: to.tag, helmChart: options.helmChart }) : undefined;
  if (ownership) r.warnings.push(...ownershipWarnings(ownership, to.tag));
  // Mirrors change on their own; they are reported, not part of the plan's identity (hash).
  const observedPeerDB = basis.mode === 'live' ? basis.observed.peerdb : undefined;
  const peerdb = observedPeerDB && spec.maintenance ? peerdbSummary(spec, observedPeerDB, r.warnings) : undefined;
  const cluster = { name: spec.name, namespace: spec.namespace };
  return {
    cluster,
    mode: basis.mode,
    from: r.from?.tag,
    to: to.tag,
    componentVersions: r.componentVersions,
    hash: hashOf({ cluster, to: to.tag, steps }),
    steps,
    warnings: r.warnings,
    notices: r.notices,
    ...(ownership ? { ownership } : {}),
    summary: {
      steps: steps.length,
      jobs: steps.filter(isJobStep).length,
      components: new Set(rolls.map((s) => s.component)).size,
      podRestarts: podRestarts(rolls, r.resolved),
    },
    ...(peerdb ? { peerdb } : {}),
  };
}

/** What the upgrade will do to the mirrors, and the warnings that go with it. */
function peerdbSummary(spec: ClusterSpec, observation: PeerDBObservation, warnings: PlanNote[]): PlanPeerDB {
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

function resolveAllOffline(spec: ClusterSpec, to: Version, fromText: string | undefined): Resolution {
  const from = fromText === undefined ? undefined : mustParse(fromText, '--from');
  const warnings: PlanNote[] = [];
  if (!from) warnings.push('offline plan without --from: the current version is unknown, so downgrades and skipped versions cannot be checked');
  const resolved = new Map<string, ResolvedComponent>();
  const componentVersions: Record<string, string> = {};
  for (const component of spec.components) {
    componentVersions[component.name] = from?.tag ?? 'unknown';
    resolved.set(component.name, resolveOffline(spec, component, to, from));
  }
  return { resolved, componentVersions, from, warnings, notices: [] };
}

function resolveAllLive(spec: ClusterSpec, to: Version, observed: ObservedState, allowDowngrade: boolean): Resolution {
  const problems: string[] = [];
  const warnings: PlanNote[] = [];
  const resolved = new Map<string, ResolvedComponent>();
  const componentVersions: Record<string, string> = {};
  const policy = new Map<string, string[]>();
  let from: Version | undefined;
  for (const component of spec.components) {
    const live = resolveLive(spec, component, to.tag, observed, problems);
    if (!live) continue;
    resolved.set(component.name, live);
    componentVersions[component.name] = live.version?.tag ?? 'unknown';
    const targetRepository = parseImageRef(live.targetImage).repository;
    if (!live.version && live.currentTag !== undefined && live.currentImage !== live.targetImage) {
      warnings.push(`${component.name}: cannot tell the version of image ${live.currentImage} (tag is not ${spec.images.tagPrefix}vX.Y.Z)`);
    }
    if (live.currentRepository !== targetRepository) {
      warnings.push(`${component.name}: the image repository changes from ${live.currentRepository} to ${targetRepository}`);
    }
    if (live.version && live.currentImage !== live.targetImage) {
      const outcome = checkVersionPolicy(live.version, to, { allowDowngrade });
      for (const error of outcome.errors) policy.set(error, [...(policy.get(error) ?? []), component.name]);
    }
    if (!from || (live.version && compareVersions(live.version, from) < 0)) from = live.version ?? from;
  }
  warnings.push(...uncoveredWorkloadWarnings(spec, observed.namespaceWorkloads));
  // One line per refusal, naming the components it concerns (usually all of them alike).
  for (const [error, names] of policy) problems.push(`${names.join(', ')}: ${error}`);
  if (problems.length > 0) throw new UserError(problems.join('\n'));
  const notices: PlanNote[] = [];
  if (observed.unfinishedRun) {
    const { to, stoppedAt } = observed.unfinishedRun;
    notices.push({ kind: 'unfinished-run', to, checkpoint: `${spec.namespace}/${spec.checkpointName}`, stoppedAt });
  }
  return { resolved, componentVersions, from, warnings, notices };
}

/**
 * A maintenance Job step on its own, for `peerdb-upgrade maintenance start|end`: the flow-maintenance
 * image of `version` (the version the flow workers run now), env copied from the running workload.
 */
export function maintenanceStep(spec: ClusterSpec, observed: ObservedState, mode: 'start' | 'end', version: string, tagPrefix = spec.images.tagPrefix): JobStep {
  if (!spec.maintenance) throw new UserError('the spec has no maintenance section: maintenance mode is not used for this installation');
  const source = spec.maintenance.envFrom;
  const component = spec.components.find((c) => c.name === source)!;
  const problems: string[] = [];
  const live = resolveLive(spec, component, version, observed, problems);
  if (!live) throw new UserError(problems.join('\n'));
  return new JobSteps({ ...spec, images: { ...spec.images, tagPrefix } }, version, new Map([[source, live]]), []).maintenance(mode);
}

function mustParse(text: string, where: string): Version {
  const parsed = parseVersion(text);
  if (!parsed.ok) throw new UserError(`${where}: ${parsed.reason}`);
  return parsed.version;
}
