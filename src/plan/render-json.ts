import { maskEnv, maskManifest } from './mask.js';
import { isComponentStep, isJobStep, timeoutOf, type Plan, type PlanWords, type Step } from './plan-types.js';
import { ownershipDocument } from './render-ownership.js';

export const PLAN_FORMAT_VERSION = 1;

/**
 * The machine-readable plan (README "Plan JSON"). Field names are part of the contract: add fields,
 * never rename or remove them without raising format_version.
 */
export function planDocument(plan: Plan, words: PlanWords): Record<string, unknown> {
  return {
    format_version: PLAN_FORMAT_VERSION,
    kind: 'peerdb-upgrade-plan',
    cluster: plan.cluster,
    mode: plan.mode,
    from: plan.from ?? null,
    to: plan.to,
    plan_hash: plan.hash,
    has_changes: plan.steps.length > 0,
    component_versions: plan.componentVersions,
    summary: {
      steps: plan.summary.steps,
      jobs: plan.summary.jobs,
      components: plan.summary.components,
      pod_restarts: plan.summary.podRestarts,
    },
    warnings: plan.warnings.map(words.note),
    notices: plan.notices.map(words.note),
    ...(plan.ownership ? { ownership: ownershipDocument(plan.ownership) } : {}),
    steps: plan.steps.map(stepDocument),
    ...(plan.peerdb
      ? {
          peerdb: {
            reachable: plan.peerdb.reachable,
            ...(plan.peerdb.reason !== undefined ? { reason: plan.peerdb.reason } : {}),
            instance: plan.peerdb.instance ?? null,
            version: plan.peerdb.version ?? null,
            mirrors: plan.peerdb.mirrors,
            will_pause: plan.peerdb.willPause,
            wait_for: plan.peerdb.waitFor,
            left_alone: plan.peerdb.leftAlone,
          },
        }
      : {}),
  };
}

function stepDocument(step: Step): Record<string, unknown> {
  // Key order is part of what reviewers read: id, kind, title, then what the kind carries.
  const doc: Record<string, unknown> = { id: step.id, kind: step.kind, title: step.title };
  if (isComponentStep(step)) doc.component = step.component;
  if (step.kind === 'statefulset-pod') doc.ordinal = step.ordinal;
  if (isJobStep(step)) doc.job = step.job;
  if (isComponentStep(step)) doc.workload = step.workload;
  if (isComponentStep(step) && step.group !== undefined) doc.concurrent_group = step.group;
  if (isJobStep(step) || isComponentStep(step)) doc.image = step.image;
  if (step.kind === 'pre-pull') doc.images = step.images;
  doc.changes = step.changes;
  const timeoutMs = timeoutOf(step);
  if (timeoutMs !== undefined) doc.timeout_seconds = Math.round(timeoutMs / 1000);
  if (step.kind === 'statefulset-prepare' || step.kind === 'statefulset-pod') doc.final_partition = step.finalPartition;
  if (isJobStep(step)) {
    if (step.envSource) doc.env_source = { ...step.envSource, extra: maskEnv(step.envSource.extra) };
    doc.manifest = maskManifest(step.manifest);
  }
  return doc;
}

export function renderJson(plan: Plan, words: PlanWords): string {
  return `${JSON.stringify(planDocument(plan, words), null, 2)}\n`;
}
