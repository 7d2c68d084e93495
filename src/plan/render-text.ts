import { formatDuration } from '../spec/duration.js';
import { describeEnvValue } from './mask.js';
import { ownershipText } from './render-ownership.js';
import { isComponentStep, isJobStep, type Change, type Plan, type PlanWords, type Step } from './plan-types.js';
import { plainStyle, type Style } from './style.js';
import { summaryLine } from './summary-line.js';
import { mirrorsLine } from './mirrors-line.js';

/** The plan for a person at a terminal. */
export function renderText(plan: Plan, words: PlanWords, style: Style = plainStyle): string {
  const lines: string[] = [style.bold(summaryLine(plan))];
  if (plan.mode === 'offline') {
    const assumed = plan.from ? `every named workload is assumed to run --from (${plan.from})` : 'the version the workloads run is unknown (no --from)';
    lines.push(style.dim(`offline: ${assumed}; apply re-checks the cluster`));
  }
  for (const notice of plan.notices) lines.push(style.warn(`notice: ${words.note(notice)}`));
  for (const warning of plan.warnings) lines.push(style.warn(`warning: ${words.note(warning)}`));
  if (plan.peerdb) lines.push(mirrorsLine(plan.peerdb));
  const owners = ownershipText(plan.ownership, plan.to, words, style);
  if (owners.length > 0) lines.push('', ...owners);
  if (plan.steps.length === 0) return `${lines.join('\n')}\n`;
  lines.push('');
  const width = String(plan.steps.length).length;
  plan.steps.forEach((step, index) => {
    const group = isComponentStep(step) ? step.group : undefined;
    const before = plan.steps[index - 1];
    if (group !== undefined && (before === undefined || !isComponentStep(before) || before.group !== group)) {
      const members = [...new Set(plan.steps.filter(isComponentStep).filter((s) => s.group === group).map((s) => s.component))];
      lines.push(style.bold(`${' '.repeat(width + 2)}side by side (spec.rollout.concurrent): ${members.join(', ')}; each component's own steps in order`));
    }
    const number = String(index + 1).padStart(width);
    lines.push(`${number}. ${style.bold(step.kind.padEnd(20))} ${step.title}`);
    for (const detail of stepDetails(step, style)) lines.push(`${' '.repeat(width + 2)}    ${detail}`);
  });
  lines.push('', style.dim(`plan ${plan.hash.slice(0, 12)}`));
  return `${lines.join('\n')}\n`;
}

function stepDetails(step: Step, style: Style): string[] {
  const details: string[] = [];
  if (isJobStep(step)) {
    const container = step.manifest.spec.template.spec.containers[0]!;
    details.push(`Job ${step.manifest.metadata.name}: ${container.image}`);
    if (container.command?.length) details.push(`command: ${container.command.join(' ')}`);
    if (container.args?.length) details.push(`args: ${container.args.join(' ')}`);
    if (step.envSource) {
      details.push(style.dim(`env: copied from ${step.envSource.workload} container ${step.envSource.container} when applied`));
    }
    for (const env of container.env ?? []) details.push(style.dim(`env ${env.name}=${describeEnvValue(env)}`));
    for (const from of container.envFrom ?? []) {
      const ref = from.secretRef ? `secret ${from.secretRef.name}` : from.configMapRef ? `configmap ${from.configMapRef.name}` : 'unknown';
      details.push(style.dim(`envFrom ${ref}${from.prefix ? ` (prefix ${from.prefix})` : ''}`));
    }
    details.push(style.dim(`backoffLimit ${step.manifest.spec.backoffLimit}, timeout ${formatDuration(step.manifest.spec.activeDeadlineSeconds * 1000)}`));
    return details;
  }
  if (step.kind === 'pre-pull') {
    for (const image of step.images) details.push(`image ${image}`);
    details.push(style.dim('one Job per node and image, pinned with nodeName, command a path no image has (nothing runs); deleted when done'));
  }
  for (const change of step.changes) details.push(formatChange(change, style));
  if (step.kind === 'deployment-rollout' || step.kind === 'statefulset-pod' || step.kind === 'verify-mirrors') {
    details.push(style.dim(`wait up to ${formatDuration(step.timeoutMs)}`));
  }
  return details;
}

export function formatChange(change: Change, style: Style = plainStyle): string {
  // An image nobody observed (offline without --from) is unknown; a Job that does not exist yet is none.
  const from = change.from === null ? (change.field.endsWith('image') ? 'unknown' : '(none)') : String(change.from);
  return `${change.object} ${change.field}: ${style.removed(from)} → ${style.added(String(change.to))}`;
}
