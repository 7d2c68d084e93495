import type { ClusterPort } from '../cluster/port.js';
import { computePlan } from '../plan/compute-plan.js';
import { planFromBase, type BasePlan } from '../plan/plan-from-base.js';
import { observedFingerprint, type ObservedState } from '../plan/plan-input.js';
import type { Plan } from '../plan/plan-types.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { DryRunResult } from './dry-run.js';

/** Where `plan` starts from. */
export type PlanSource =
  /** Another revision of the spec stands in for the cluster (pull requests). */
  | { readonly kind: 'base'; readonly base: ClusterSpec; readonly baseFile: string; readonly file: string }
  /** No cluster: every workload is assumed to run `from` (unknown without it). */
  | { readonly kind: 'offline'; readonly from: string | undefined }
  /** The cluster as it is now; with dryRun, every change is also sent with dryRun=All. */
  | { readonly kind: 'live'; readonly cluster: ClusterPort; readonly dryRun: boolean; readonly helmChart?: string | undefined };

export interface PlanRequest {
  readonly spec: ClusterSpec;
  readonly source: PlanSource;
  readonly allowDowngrade: boolean;
}

export interface PlanOutcome {
  readonly plan: Plan;
  /** A --base plan's spec change. */
  readonly base?: BasePlan | undefined;
  /** Live: what the plan saw of the cluster, recorded in a saved plan. */
  readonly fingerprint?: string | undefined;
  /** Live with dryRun: what the API server said to each change. */
  readonly dryRun?: readonly DryRunResult[] | undefined;
}

/** `plan`: computes the plan from its source; changes nothing. */
export async function planUpgrade(request: PlanRequest): Promise<PlanOutcome> {
  const { spec, source, allowDowngrade } = request;
  switch (source.kind) {
    case 'base': {
      const base = planFromBase(source.base, spec, { baseFile: source.baseFile, file: source.file, allowDowngrade });
      return { plan: base.plan, base };
    }
    case 'offline':
      return { plan: computePlan(spec, { mode: 'offline', from: source.from }, { allowDowngrade }) };
    case 'live': {
      // Loaded only for a live plan: offline plans start faster without the checkpoint's schema.
      const [{ readCheckpoint, readUnfinishedRun }, { recordedPartitions }, { serverDryRun }, { observeCluster }] = await Promise.all([
        import('./checkpoint-store.js'),
        import('./checkpoint.js'),
        import('./dry-run.js'),
        import('./observe-cluster.js'),
      ]);
      const { cluster } = source;
      const observed: ObservedState = {
        ...(await observeCluster(spec, cluster, () => readUnfinishedRun(cluster, spec))),
        // The partitions a run that did not finish recorded, as apply plans with them.
        userPartitions: recordedPartitions((await readCheckpoint(cluster, spec))?.checkpoint),
      };
      const plan = computePlan(spec, { mode: 'live', observed }, { allowDowngrade, helmChart: source.helmChart });
      return { plan, fingerprint: observedFingerprint(observed), dryRun: source.dryRun ? await serverDryRun(cluster, spec, plan) : undefined };
    }
  }
}
