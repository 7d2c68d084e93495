import { describeOwner } from '../cluster/workload-owner.js';
import type { GitOpsOwnership, HelmAdvice, PlanOwnership } from './ownership.js';
import type { PlanWords } from './plan-types.js';
import { plainStyle, type Style } from './style.js';

/* Who owns what, and what to do about it, for text, markdown and JSON. */

function ownerLines(ownership: PlanOwnership): [string, string[]][] {
  const groups = new Map<string, string[]>();
  for (const c of ownership.components) {
    const what = describeOwner(c.owner);
    groups.set(what, [...(groups.get(what) ?? []), c.component]);
  }
  return [...groups];
}

function helmHeadline(h: HelmAdvice, to: string): string {
  const chart = h.chart ? `, revision ${h.revision}, chart ${h.chart.name} ${h.chart.version}` : '';
  const where = `release ${h.release} (namespace ${h.namespace}${chart})`;
  if (h.agrees === true) return `${where} renders ${to} for ${h.components.join(', ')}: it agrees, nothing to do`;
  if (h.agrees === false) return `${where}: make it agree once the components run ${to} (this restarts no pod)`;
  return `${where} owns ${h.components.join(', ')}: what its values render is not known`;
}

function gitopsLines(g: GitOpsOwnership, to: string, targetTag: string, applyCommand: string): string[] {
  const commit =
    g.manager === 'argocd'
      ? `commit ${to} to Git (e.g. peerdb.version: ${targetTag} in the Application's Helm values) before resuming`
      : `commit ${to} to Git (the HelmRelease's or Kustomization's source) before resuming`;
  return [
    `${g.what} manages ${g.components.join(', ')} (${g.evidence})`,
    `  before apply: ${g.suspend}   then: ${applyCommand}`,
    `  after: ${commit}: ${g.resume}${g.manager === 'argocd' ? '   (with --self-heal / --auto-prune if it had them)' : ''}`,
  ];
}

/** One line per manager other than "nothing": who owns what, for apply to say before it starts. */
export function ownerSummary(ownership: PlanOwnership | undefined): string[] {
  if (!ownership) return [];
  return ownerLines(ownership)
    .filter(([what]) => what !== describeOwner({ manager: 'none' }))
    .map(([what, components]) => `owner: ${what}: ${components.join(', ')}`);
}

/** The owners and the Helm/GitOps advice as text lines (empty for an offline plan). */
export function ownershipText(ownership: PlanOwnership | undefined, to: string, words: Pick<PlanWords, 'applySuspendedCommand'>, style: Style = plainStyle): string[] {
  if (!ownership || ownership.components.length === 0) return [];
  const lines: string[] = [];
  for (const [what, components] of ownerLines(ownership)) lines.push(`${style.dim('owner:')} ${what}: ${components.join(', ')}`);
  for (const h of ownership.helm) {
    lines.push(`${style.bold('helm:')} ${helmHeadline(h, to)}`);
    for (const r of h.renders) {
      if (h.agrees === false && r.rendered !== undefined && r.rendered !== r.target) lines.push(`  ${r.component}: the release renders ${style.removed(r.rendered)}, the upgrade sets ${style.added(r.target)}`);
    }
    if (h.command) lines.push(`  ${h.command}`);
    else if (h.set.length > 0) lines.push(`  values: ${h.set.map(([k, v]) => `${k}: ${v}`).join(', ')}`);
    for (const note of h.notes) lines.push(style.dim(`  note: ${note}`));
    if (h.valuesYaml) lines.push(style.dim('  --helm-values-out FILE writes these values as YAML to merge into your values file'));
  }
  for (const g of ownership.gitops) lines.push(...gitopsLines(g, to, ownership.targetTag, words.applySuspendedCommand).map((l, i) => (i === 0 ? `${style.bold('gitops:')} ${l}` : l)));
  return lines;
}

/** The same as a markdown section (for pull-request comments and the job summary). */
export function ownershipMarkdown(ownership: PlanOwnership | undefined, to: string, words: Pick<PlanWords, 'applySuspendedCommand'>, escape: (s: string) => string): string[] {
  if (!ownership || ownership.components.length === 0) return [];
  const lines = ['| owner | components |', '|---|---|'];
  for (const [what, components] of ownerLines(ownership)) lines.push(`| ${escape(what)} | ${escape(components.join(', '))} |`);
  lines.push('');
  for (const h of ownership.helm) {
    lines.push(`**Helm** ${escape(helmHeadline(h, to))}`, '');
    if (h.command) lines.push('```sh', h.command, '```', '');
    for (const note of h.notes) lines.push(`- ${escape(note)}`);
    if (h.notes.length > 0) lines.push('');
    if (h.valuesYaml) lines.push('```yaml', h.valuesYaml.trimEnd(), '```', '');
  }
  for (const g of ownership.gitops) {
    const [head, ...rest] = gitopsLines(g, to, ownership.targetTag, words.applySuspendedCommand);
    lines.push(`**GitOps** ${escape(head!)}`, '', '```sh', ...rest.map((l) => l.trim()), '```', '');
  }
  return lines;
}

/** The JSON form (README "Plan JSON": `ownership`). */
export function ownershipDocument(ownership: PlanOwnership): Record<string, unknown> {
  return {
    target_tag: ownership.targetTag,
    components: ownership.components.map((c) => ({ component: c.component, workload: c.workload, ...ownerDocument(c.owner) })),
    helm: ownership.helm.map((h) => ({
      release: h.release,
      namespace: h.namespace,
      via: h.via.tool === 'helm' ? { tool: 'helm' } : h.via,
      components: h.components,
      values: h.values,
      values_detail: h.valuesDetail ?? null,
      revision: h.revision ?? null,
      chart: h.chart ?? null,
      layout: h.layout,
      renders: h.renders.map((r) => ({ component: r.component, running: r.running, target: r.target, rendered: r.rendered ?? null })),
      agrees: h.agrees ?? null,
      set: Object.fromEntries(h.set),
      command: h.command ?? null,
      values_yaml: h.valuesYaml ?? null,
      notes: h.notes,
    })),
    gitops: ownership.gitops.map((g) => ({ manager: g.manager, what: g.what, components: g.components, evidence: g.evidence, suspend: g.suspend, resume: g.resume })),
  };
}

function ownerDocument(owner: PlanOwnership['components'][number]['owner']): Record<string, unknown> {
  switch (owner.manager) {
    case 'none':
      return { manager: 'none' };
    case 'helm':
      return { manager: 'helm', release: owner.helm.release, release_namespace: owner.helm.namespace };
    case 'argocd':
      return { manager: 'argocd', application: owner.application, evidence: owner.evidence };
    case 'flux':
      return { manager: 'flux', flux_kind: owner.kind, name: owner.name, flux_namespace: owner.namespace, ...(owner.helm ? { release: owner.helm.release, release_namespace: owner.helm.namespace } : {}) };
  }
}

/** Every Helm values snippet of the plan, for `--helm-values-out` (one YAML document per release). */
export function helmValuesFile(ownership: PlanOwnership | undefined): string | undefined {
  const docs = (ownership?.helm ?? []).map((h) => h.valuesYaml).filter((y): y is string => y !== undefined);
  return docs.length === 0 ? undefined : docs.join('---\n');
}
