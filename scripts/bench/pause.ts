/**
 * The pause window — maintenance-start done (mirrors paused) → maintenance-end done (mirrors
 * resumed) — what an upgrade costs a PeerDB user, and the physical limit below which no client can
 * bring it: the Jobs' and restarts' own time on the critical path (the simulator's configured delays
 * plus the image pulls its Pulled events report). Both are read the same way for the tool and the
 * kubectl script: from independent watches (a Job's pod Succeeded or its condition, whichever is
 * first; pod readiness) and the proxy's record of the client's writes, never from what a client
 * says about itself.
 */
import type { RequestRecord } from '../../test/e2e/fault-proxy.js';
import { podView, type WatchRecorder } from '../../test/e2e/watch-recorder.js';

export interface Observers {
  pods: WatchRecorder;
  jobs: WatchRecorder;
  deployments: WatchRecorder;
  statefulsets: WatchRecorder;
}

export interface Delays {
  readyDelayMs: number;
  runDurationMs: number;
  deleteDelayMs: number;
}

/** One plan step as it happened: the client's first write for it, and its goal as the watches saw it. */
export interface StepTime {
  step: any;
  firstChange?: number;
  goal?: number;
  /**
   * A Job step's conditions as the watch first saw them: SuccessCriteriaMet (Kubernetes 1.31+) and
   * Complete. The Job controller writes them up to ~1 s after the pod ended (it batches pod events:
   * SyncJobBatchPeriod in pkg/controller/job), and a client that must see the Job finished waits for
   * them (see decompose in main.ts).
   */
  conditions?: { criteriaMet?: number; complete?: number };
}

export function partitionOf(r: RequestRecord): number | undefined {
  const p = r.body?.spec?.updateStrategy?.rollingUpdate?.partition;
  return typeof p === 'number' ? p : undefined;
}

const jobName = (step: any): string | undefined => step.manifest?.metadata?.name ?? step.job;

/** The steps that change the cluster (everything but the checks at both ends). */
export const isActing = (step: any) => ['maintenance-start', 'maintenance-end', 'init-job', 'deployment-rollout', 'statefulset-prepare', 'statefulset-pod'].includes(step.kind);

export function stepTimes(plan: any, records: RequestRecord[], obs: Observers): StepTime[] {
  const writes = records.filter((r) => r.upstreamStatus !== undefined && r.upstreamStatus < 300 && ['create', 'patch', 'update'].includes(r.verb));
  const image = (o: any, container: string) => (o.spec?.template?.spec?.containers ?? []).find((c: any) => c.name === container)?.image;
  const firstChange = (step: any): number | undefined => {
    switch (step.kind) {
      case 'maintenance-start':
      case 'maintenance-end':
      case 'init-job':
        return writes.find((r) => r.resource === 'jobs' && r.verb === 'create' && (r.result?.metadata?.name ?? r.body?.metadata?.name) === jobName(step))?.at;
      case 'deployment-rollout':
        return writes.find((r) => r.resource === 'deployments' && r.name === step.workload.name)?.at;
      case 'statefulset-prepare':
        return writes.find((r) => r.resource === 'statefulsets' && r.name === step.workload.name)?.at;
      case 'statefulset-pod':
        return writes.find((r) => r.resource === 'statefulsets' && r.name === step.workload.name && partitionOf(r) === step.ordinal)?.at;
      default:
        return undefined;
    }
  };
  const goal = (step: any, from: number | undefined): number | undefined => {
    switch (step.kind) {
      case 'maintenance-start':
      case 'maintenance-end':
      case 'init-job':
        return jobDone(jobName(step));
      case 'deployment-rollout':
        return obs.deployments.events.find((e) => {
          const d = e.object;
          const st = d.status ?? {};
          const want = d.spec.replicas ?? 1;
          return (
            e.type !== 'SYNC' &&
            (from === undefined || e.at >= from) &&
            d.metadata.name === step.workload.name &&
            image(d, step.workload.container) === step.image &&
            (st.observedGeneration ?? 0) >= d.metadata.generation &&
            st.updatedReplicas === want &&
            st.availableReplicas === want &&
            st.readyReplicas === want &&
            st.replicas === want
          );
        })?.at;
      case 'statefulset-prepare':
        // Done when the StatefulSet controller has made the update revision of the new template: any
        // client must wait for that before it moves a partition (the pods are judged by it), and the
        // controller's time is not the client's.
        return obs.statefulsets.events.find((e) => {
          const s = e.object;
          return (
            e.type !== 'SYNC' &&
            (from === undefined || e.at >= from) &&
            s.metadata.name === step.workload.name &&
            image(s, step.workload.container) === step.image &&
            (s.status?.observedGeneration ?? 0) >= s.metadata.generation &&
            s.status?.updateRevision !== undefined &&
            s.status.updateRevision !== s.status.currentRevision
          );
        })?.at ?? from;
      case 'statefulset-pod':
        return obs.pods.events.find((e) => {
          if (e.type === 'SYNC') return false;
          const v = podView(e.object, step.workload.container);
          return v.name === `${step.workload.name}-${step.ordinal}` && v.image === step.image && v.ready && !v.deleting;
        })?.at;
      default:
        return undefined;
    }
  };
  // A Job's work is done when its pod ends Succeeded; the Job controller writes SuccessCriteriaMet
  // (Kubernetes 1.31+, before Complete) up to ~1 s later (it batches pod updates). The earlier of
  // the two: a client that waits for the condition pays that second as its own reaction.
  const conditionAt = (name: string | undefined, types: string[]): number | undefined =>
    obs.jobs.events.find(
      (e) => e.type !== 'SYNC' && e.object.metadata.name === name && (e.object.status?.conditions ?? []).some((c: any) => types.includes(c.type) && c.status === 'True'),
    )?.at;
  const jobDone = (name: string | undefined): number | undefined => {
    const uid = obs.jobs.events.find((e) => e.type !== 'SYNC' && e.object.metadata.name === name)?.object.metadata.uid;
    const condition = conditionAt(name, ['Complete', 'SuccessCriteriaMet']);
    const pod = obs.pods.events.find((e) => {
      const labels = e.object.metadata?.labels ?? {};
      return e.type !== 'SYNC' && labels['job-name'] === name && uid !== undefined && (labels['batch.kubernetes.io/controller-uid'] ?? labels['controller-uid']) === uid && e.object.status?.phase === 'Succeeded';
    })?.at;
    const both = [condition, pod].filter((t): t is number => t !== undefined);
    return both.length ? Math.min(...both) : undefined;
  };
  return plan.steps.filter(isActing).map((step: any) => {
    const fc = firstChange(step);
    const g = goal(step, fc);
    const job = ['maintenance-start', 'maintenance-end', 'init-job'].includes(step.kind) ? jobName(step) : undefined;
    const conditions = job === undefined ? undefined : { criteriaMet: conditionAt(job, ['SuccessCriteriaMet']), complete: conditionAt(job, ['Complete']) };
    return { step, ...(fc !== undefined ? { firstChange: fc } : {}), ...(g !== undefined ? { goal: g } : {}), ...(conditions ? { conditions } : {}) };
  });
}

/** Pulled events (simulator, like a kubelet): pod name → [{image, ms}]. */
export function pullsByPod(events: any[]): Map<string, { image: string; ms: number }[]> {
  const out = new Map<string, { image: string; ms: number }[]>();
  for (const e of events) {
    if (e.reason !== 'Pulled' || e.involvedObject?.kind !== 'Pod') continue;
    const m = /pulled image "([^"]+)" in ([0-9.]+)(ms|s|m)\b/.exec(e.message ?? '');
    if (!m) continue;
    const ms = Number(m[2]) * (m[3] === 'ms' ? 1 : m[3] === 's' ? 1000 : 60_000);
    const list = out.get(e.involvedObject.name) ?? [];
    list.push({ image: m[1]!, ms });
    out.set(e.involvedObject.name, list);
  }
  return out;
}

/**
 * A step's own time: what the pods it waits for need, whatever the client does. Pulls are counted
 * only when the pod of that step paid one (its Pulled event), so pre-pulled images cost nothing.
 */
export function ownTime(step: any, d: Delays, pulls: Map<string, { image: string; ms: number }[]>, podsAfter: (prefix: string) => string[]): number {
  const pullOf = (names: string[], image?: string) =>
    Math.max(0, ...names.flatMap((n) => (pulls.get(n) ?? []).filter((p) => image === undefined || p.image === image).map((p) => p.ms)));
  switch (step.kind) {
    case 'maintenance-start':
    case 'maintenance-end':
    case 'init-job':
      return pullOf(podsAfter(`${jobName(step)}-`)) + d.readyDelayMs + d.runDurationMs;
    case 'deployment-rollout':
      return pullOf(podsAfter(`${step.workload.name}-`), step.image) + d.readyDelayMs;
    case 'statefulset-pod':
      return d.deleteDelayMs + pullOf([`${step.workload.name}-${step.ordinal}`], step.image) + d.readyDelayMs;
    default:
      return 0;
  }
}

/**
 * Steps that run side by side: the plan marks them with the same `concurrent_group` (concurrent
 * rollouts); within a group each workload's steps are one lane, in order. Ungrouped steps are lanes
 * of their own, one after another.
 */
export function criticalPathMs(steps: any[], own: (step: any) => number): number {
  let total = 0;
  for (let i = 0; i < steps.length; ) {
    const group = steps[i].concurrent_group;
    if (group === undefined) {
      total += own(steps[i]);
      i++;
      continue;
    }
    const lanes = new Map<string, number>();
    while (i < steps.length && steps[i].concurrent_group === group) {
      const lane = steps[i].workload?.name ?? steps[i].id;
      lanes.set(lane, (lanes.get(lane) ?? 0) + own(steps[i]));
      i++;
    }
    total += Math.max(0, ...lanes.values());
  }
  return total;
}

export interface PauseWindow {
  /** maintenance-start's Job done → maintenance-end's Job done (its pod Succeeded, or its condition if first; watch times). */
  windowMs?: number;
  /** The critical path's own time inside the window (steps after maintenance-start, end included). */
  limitMs?: number;
  /** Of the limit: image pulls paid inside the window. */
  pullMs?: number;
}

export function pauseWindow(plan: any, times: StepTime[], d: Delays, pulls: Map<string, { image: string; ms: number }[]>, podNames: string[]): PauseWindow {
  const start = times.find((t) => t.step.kind === 'maintenance-start');
  const end = times.find((t) => t.step.kind === 'maintenance-end');
  if (!start || !end) return {};
  const inside = plan.steps.filter(isActing).slice(plan.steps.filter(isActing).indexOf(start.step) + 1, plan.steps.filter(isActing).indexOf(end.step) + 1);
  const podsAfter = (prefix: string) => podNames.filter((n) => n.startsWith(prefix));
  const noPulls = new Map<string, { image: string; ms: number }[]>();
  const limitMs = criticalPathMs(inside, (st) => ownTime(st, d, pulls, podsAfter));
  const withoutPulls = criticalPathMs(inside, (st) => ownTime(st, d, noPulls, podsAfter));
  return {
    ...(start.goal !== undefined && end.goal !== undefined ? { windowMs: end.goal - start.goal } : {}),
    limitMs,
    pullMs: limitMs - withoutPulls,
  };
}

const s = (ms: number | undefined) => (ms === undefined ? '      ?' : `${(ms / 1000).toFixed(2).padStart(6)} s`);

const label = (step: any) =>
  step.kind === 'statefulset-pod' ? `${step.workload.name}-${step.ordinal}` : step.kind === 'init-job' ? step.id.replace('init-job/', '') : step.workload?.name ?? step.kind;

/**
 * A timeline a person can read: one line per step with when the client acted, when the goal was
 * reached, its own time (what the pods needed) and what was lost beyond it, and where the pause
 * window opens and closes.
 */
export function timelineText(title: string, times: StepTime[], pause: PauseWindow, t0: number, own: (step: any) => number): string {
  const start = times.find((t) => t.step.kind === 'maintenance-start')?.goal;
  const lines = [
    title,
    `pause window ${s(pause.windowMs).trim()}, its physical limit ${s(pause.limitMs).trim()} (image pulls in it: ${s(pause.pullMs).trim()})`,
    '',
    '  acted at   done at  in window   own time   beyond own  reaction  step',
  ];
  let prevGoal: number | undefined;
  // A concurrent group's steps all react to the goal before the group; the group ends at its last goal.
  let groupBase: { group: string; base: number | undefined; last: number | undefined } | undefined;
  for (const t of times) {
    const o = own(t.step);
    const took = t.goal !== undefined && t.firstChange !== undefined ? t.goal - t.firstChange : undefined;
    const group: string | undefined = t.step.concurrent_group;
    if (group !== undefined && groupBase?.group !== group) groupBase = { group, base: prevGoal, last: undefined };
    if (group === undefined && groupBase) {
      prevGoal = groupBase.last ?? prevGoal;
      groupBase = undefined;
    }
    const lane = t.step.workload?.name;
    const sameLaneBefore = group !== undefined ? times.slice(0, times.indexOf(t)).reverse().find((x) => x.step.concurrent_group === group && x.step.workload?.name === lane) : undefined;
    const base = group !== undefined ? (sameLaneBefore?.goal ?? groupBase?.base) : prevGoal;
    const reaction = base !== undefined && t.firstChange !== undefined ? t.firstChange - base : undefined;
    lines.push(
      `  ${s(t.firstChange === undefined ? undefined : t.firstChange - t0)}  ${s(t.goal === undefined ? undefined : t.goal - t0)}  ${start !== undefined && t.goal !== undefined && t.goal >= start ? s(t.goal - start) : '        '}  ${s(o)}  ${s(took === undefined ? undefined : took - o)}  ${reaction === undefined ? '        ' : `${Math.round(reaction).toString().padStart(5)} ms`}  ${t.step.kind} ${label(t.step)}${t.step.concurrent_group !== undefined ? ` [group ${t.step.concurrent_group}]` : ''}`,
    );
    if (t.step.kind === 'maintenance-start') lines.push('  ─── mirrors paused: the pause window opens ───');
    if (t.step.kind === 'maintenance-end') lines.push('  ─── mirrors resumed: the pause window closes ───');
    if (groupBase && t.goal !== undefined) groupBase.last = Math.max(groupBase.last ?? t.goal, t.goal);
    if (!groupBase) prevGoal = t.goal ?? prevGoal;
  }
  return `${lines.join('\n')}\n`;
}
