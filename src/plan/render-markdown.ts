import { stringify } from 'yaml';
import { maskManifest } from './mask.js';
import { isComponentStep, isJobStep, type ComponentStep, type Plan, type PlanWords, type Step } from './plan-types.js';
import { ownershipMarkdown } from './render-ownership.js';
import { formatChange } from './render-text.js';
import { summaryLine } from './summary-line.js';
import { mirrorsLine } from './mirrors-line.js';

/** GitHub refuses comments longer than this. */
export const MARKDOWN_LIMIT = 65_536;

/** The hidden line CI searches for to update one sticky pull-request comment instead of adding more. */
export function markdownMarker(plan: Plan): string {
  return `<!-- peerdb-upgrade:plan ${plan.cluster.namespace}/${plan.cluster.name} -->`;
}

/** The plan as a pull-request comment: summary visible, details collapsed, never over the limit. */
export function renderMarkdown(plan: Plan, words: PlanWords, options: { limit?: number; title?: string } = {}): string {
  const limit = options.limit ?? MARKDOWN_LIMIT;
  const head: string[] = [
    markdownMarker(plan),
    `### ${options.title ?? 'peerdb-upgrade plan'}: \`${plan.cluster.namespace}/${plan.cluster.name}\` ${plan.from ?? 'unknown'} → ${plan.to}`,
    '',
    `**${escape(summaryLine(plan))}**`,
    '',
  ];
  for (const notice of plan.notices) head.push(`> **Notice:** ${escape(words.note(notice))}`, '');
  for (const warning of plan.warnings) head.push(`> **Warning:** ${escape(words.note(warning))}`, '');
  if (plan.peerdb) head.push(escape(mirrorsLine(plan.peerdb)), '');
  head.push(...ownershipMarkdown(plan.ownership, plan.to, words, escape));
  if (plan.steps.length > 0) head.push(...overviewTable(plan.steps), '');

  const sections = [...jobSections(plan.steps), ...componentSections(plan.steps)];
  const footer = `\n<sub>plan \`${plan.hash.slice(0, 12)}\` · ${plan.mode}</sub>\n`;
  let text = `${head.join('\n')}\n`;
  if (text.length + footer.length > limit) {
    text = text.slice(0, Math.max(0, limit - footer.length - 200));
    text += `\n\n> **Output cut:** the plan is longer than ${limit} characters; run \`${words.planTextCommand}\` to see all of it.\n`;
    return text + footer;
  }
  let shown = 0;
  for (const section of sections) {
    const notice = cutNotice(sections.length - shown, limit, words.planTextCommand);
    if (text.length + section.length + notice.length + footer.length > limit) {
      text += notice;
      return text + footer;
    }
    text += section;
    shown += 1;
  }
  return text + footer;
}

function cutNotice(hidden: number, limit: number, planText: string): string {
  return `\n> **Output cut:** ${hidden} more section${hidden === 1 ? '' : 's'} would pass GitHub's ${limit}-character limit; run \`${planText}\` to see all of it.\n`;
}

function overviewTable(steps: readonly Step[]): string[] {
  const rows = ['| # | step | what |', '|---:|---|---|'];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    if (step.kind === 'statefulset-pod') {
      let last = step;
      let j = i;
      for (let next = steps[j + 1]; next?.kind === 'statefulset-pod' && next.component === step.component; next = steps[j + 1]) {
        last = next;
        j++;
      }
      const range = j === i ? `${i + 1}` : `${i + 1}–${j + 1}`;
      const ordinals = j === i ? `pod ${step.ordinal}` : `pods ${step.ordinal} → ${last.ordinal}, one at a time`;
      rows.push(`| ${range} | statefulset-pod | ${escape(`${step.component}: update ${ordinals}${sideBySide(step)}`)} |`);
      i = j;
      continue;
    }
    rows.push(`| ${i + 1} | ${step.kind} | ${escape(`${step.title}${sideBySide(step)}`)} |`);
  }
  return rows;
}

/** spec.rollout.concurrent: which group a component step runs side by side in. */
function sideBySide(step: Step): string {
  return isComponentStep(step) && step.group !== undefined ? ` (side by side: ${step.group})` : '';
}

function jobSections(steps: readonly Step[]): string[] {
  return steps
    .filter(isJobStep)
    .map((step) => {
      const lines = [`<details><summary>Job <code>${step.job}</code> (${step.kind})</summary>`, ''];
      if (step.envSource) lines.push(`Env is copied from \`${step.envSource.workload}\` container \`${step.envSource.container}\` when applied.`, '');
      lines.push('```yaml', stringify(maskManifest(step.manifest)).trimEnd(), '```', '', '</details>', '');
      return `${lines.join('\n')}\n`;
    });
}

function componentSections(steps: readonly Step[]): string[] {
  const byComponent = new Map<string, ComponentStep[]>();
  for (const step of steps) {
    if (!isComponentStep(step)) continue;
    byComponent.set(step.component, [...(byComponent.get(step.component) ?? []), step]);
  }
  return [...byComponent].map(([component, own]) => {
    const workload = own[0]!.workload;
    const pods = own.filter((s) => s.kind === 'statefulset-pod').length;
    const what = `${workload.kind}/${workload.name}`;
    const restarts = pods > 0 ? `, ${pods} pod restart${pods === 1 ? '' : 's'}` : '';
    const lines = [`<details><summary>${escape(component)}: ${escape(what)}${restarts}</summary>`, '', '| step | change |', '|---|---|'];
    for (const step of own) {
      const changes = step.changes.length > 0 ? step.changes.map((c) => escape(formatChange(c))).join('<br>') : escape(step.title);
      lines.push(`| \`${step.id}\` | ${changes} |`);
    }
    lines.push('', '</details>', '');
    return `${lines.join('\n')}\n`;
  });
}

function escape(text: string): string {
  return text.replace(/[|<>]/g, (c) => ({ '|': '\\|', '<': '&lt;', '>': '&gt;' })[c]!);
}
