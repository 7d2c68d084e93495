import type { ChangedEntry, FieldChange, SpecDiff, SpecValue } from './base-diff.js';
import type { BasePlan } from './plan-from-base.js';
import type { PlanWords } from './plan-types.js';
import { MARKDOWN_LIMIT, renderMarkdown } from './render-markdown.js';
import { planDocument } from './render-json.js';
import { renderText } from './render-text.js';
import { plainStyle, type Style } from './style.js';

/** The spec-change section of a markdown comment never takes more than this of the budget. */
const MARKDOWN_DIFF_BUDGET = 12_000;

/** One reviewer-facing line per change, shared by the text and markdown renderings. */
interface DiffLine {
  readonly sign: '+' | '-' | '~';
  readonly subject: string;
  readonly detail: string;
}

function diffLines(diff: SpecDiff): DiffLine[] {
  const lines: DiffLine[] = [];
  const c = diff.components;
  for (const added of c.added) {
    lines.push({ sign: '+', subject: `component ${added.name} (${added.workload})`, detail: `not in the base spec; assumed to run ${diff.from}` });
  }
  for (const removed of c.removed) {
    lines.push({ sign: '-', subject: `component ${removed.name} (${removed.workload})`, detail: `no longer upgraded; stays on ${diff.from}` });
  }
  for (const changed of c.changed) lines.push({ sign: '~', subject: `component ${changed.name}`, detail: changeList(changed) });
  const j = diff.initJobs;
  for (const name of j.added) lines.push({ sign: '+', subject: `init job ${name}`, detail: 'runs before any component restarts' });
  for (const name of j.removed) lines.push({ sign: '-', subject: `init job ${name}`, detail: 'no longer run' });
  for (const changed of j.changed) lines.push({ sign: '~', subject: `init job ${changed.name}`, detail: changeList(changed) });
  for (const change of diff.settings) lines.push({ sign: '~', subject: change.field, detail: `${formatValue(change.from)} → ${formatValue(change.to)}` });
  return lines;
}

function changeList(entry: ChangedEntry): string {
  return entry.changes.map((change) => `${change.field} ${formatValue(change.from)} → ${formatValue(change.to)}`).join('; ');
}

export function formatValue(value: SpecValue): string {
  if (value === null) return '(none)';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function versionLine(diff: SpecDiff): string {
  return diff.from === diff.to ? `version unchanged (${diff.to})` : `version ${diff.from} → ${diff.to}`;
}

/** The base plan for a terminal: summary line, then the spec change, then the plan as usual. */
export function renderBaseText(basePlan: BasePlan, words: PlanWords, style: Style = plainStyle): string {
  const { diff } = basePlan;
  const [summary, ...rest] = renderText(basePlan.plan, words, style).split('\n');
  const section = [`Change from ${diff.baseFile} to ${diff.file}: ${versionLine(diff)}`];
  const lines = diffLines(diff);
  if (lines.length === 0) section.push(style.dim('  no component, init job or setting changed'));
  for (const line of lines) {
    const sign = line.sign === '+' ? style.added('+') : line.sign === '-' ? style.removed('-') : style.warn('~');
    section.push(`  ${sign} ${line.subject}: ${line.detail}`);
  }
  // The offline note speaks of "the current version"; here the base spec is what is assumed.
  const note = style.dim(`base: the cluster is assumed to be as ${diff.baseFile} describes it; apply re-checks the cluster`);
  const body = rest.map((line) => (line.includes('offline: ') ? note : line));
  return [summary, ...section, ...body].join('\n');
}

/** The `base` section of the plan JSON (README "Plan JSON", docs/ci.md). */
export function baseDocument(diff: SpecDiff): Record<string, unknown> {
  const fields = (changes: readonly FieldChange[]) => changes.map((c) => ({ field: c.field, from: c.from, to: c.to }));
  return {
    file: diff.baseFile,
    version: { from: diff.from, to: diff.to, changed: diff.from !== diff.to },
    components: {
      added: diff.components.added.map((c) => ({ ...c, assumed_version: diff.from })),
      removed: diff.components.removed.map((c) => ({ ...c, stays_on: diff.from })),
      changed: diff.components.changed.map((c) => ({ name: c.name, workload: c.workload, changes: fields(c.changes) })),
      unchanged: diff.components.unchanged,
    },
    init_jobs: {
      added: diff.initJobs.added,
      removed: diff.initJobs.removed,
      changed: diff.initJobs.changed.map((j) => ({ name: j.name, changes: fields(j.changes) })),
      unchanged: diff.initJobs.unchanged,
    },
    settings: fields(diff.settings),
  };
}

/** The plan JSON with a `base` section after `to`; every other field is as `plan --output json`. */
export function renderBaseJson(basePlan: BasePlan, words: PlanWords): string {
  const doc: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(planDocument(basePlan.plan, words))) {
    doc[key] = value;
    if (key === 'to') doc.base = baseDocument(basePlan.diff);
  }
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * The pull-request comment: the plan's own markdown (marker first, so the sticky comment is found
 * the same way) with the spec change after the summary line, all within the comment limit.
 */
export function renderBaseMarkdown(basePlan: BasePlan, words: PlanWords, options: { limit?: number } = {}): string {
  const limit = options.limit ?? MARKDOWN_LIMIT;
  const section = markdownSection(basePlan.diff, Math.min(MARKDOWN_DIFF_BUDGET, Math.floor(limit / 4)));
  const markdown = renderMarkdown(basePlan.plan, words, { limit: limit - section.length });
  const lines = markdown.split('\n');
  const summary = lines.findIndex((line) => line.startsWith('**'));
  lines.splice(summary + 2, 0, ...section.split('\n').slice(0, -1));
  return lines.join('\n');
}

function markdownSection(diff: SpecDiff, budget: number): string {
  const out = [`**Spec change** from \`${escapeMarkdown(diff.baseFile)}\` to \`${escapeMarkdown(diff.file)}\`: ${versionLine(diff)}`, ''];
  const lines = diffLines(diff);
  if (lines.length === 0) out.push('- no component, init job or setting changed');
  const word = { '+': 'added', '-': 'removed', '~': 'changed' } as const;
  let used = out.join('\n').length;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const text = `- ${word[line.sign]}: ${escapeMarkdown(line.subject)} — ${escapeMarkdown(line.detail)}`;
    const cut = `- … ${lines.length - i} more changes: run \`peerdb-upgrade plan --base ${escapeMarkdown(diff.baseFile)}\` to see them`;
    if (used + text.length + cut.length + 2 > budget) {
      out.push(cut);
      break;
    }
    out.push(text);
    used += text.length + 1;
  }
  out.push('', '');
  return out.join('\n');
}

function escapeMarkdown(text: string): string {
  return text.replace(/[<>&|]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '|': '\\|' })[c]!);
}
