import { stringify } from 'yaml';
import type { HelmReleaseRead, HelmReleaseState } from '../cluster/helm-release.js';
import type { WorkloadState } from '../cluster/types.js';
import { describeOwner, isGitOps, type WorkloadOwner } from '../cluster/workload-owner.js';
import type { ClusterSpec, ComponentSpec } from '../spec/schema.js';
import { parseImageRef } from './image-ref.js';
import type { PlanNote } from './plan-types.js';

/**
 * Who manages each workload, and what that means for an upgrade that patches images directly:
 * - a Helm release keeps the old version in its values, and its next `helm upgrade --reuse-values`
 *   renders the old images again (Helm's three-way merge puts them back): say exactly which values
 *   make it agree;
 * - Argo CD and Flux revert the patches themselves, mid-roll: apply refuses unless reconciliation is
 *   suspended.
 * A pure function of the spec and what was observed.
 */

/** The PeerDB chart (PeerDB-io/peerdb-enterprise, chart `peerdb`): each component's values key. */
export const PEERDB_CHART_KEYS: Readonly<Record<string, string>> = {
  'flow-api': 'flowApi',
  'flow-worker': 'flowWorker',
  'flow-snapshot-worker': 'flowSnapshotWorker',
  'peerdb-server': 'peerdb',
  'peerdb-ui': 'peerdbUI',
};
/** The per-component override keys (peerdb-server has none: it uses peerdb.version). */
export const PEERDB_CHART_OVERRIDES = ['flowApi.version', 'flowWorker.version', 'flowSnapshotWorker.version', 'peerdbUI.version'] as const;

export interface ComponentOwnership {
  readonly component: string;
  /** Kind/name. */
  readonly workload: string;
  readonly owner: WorkloadOwner;
}

/** What a Helm release renders for one component it owns. */
export interface HelmRender {
  readonly component: string;
  /** The image the component runs now (before the plan's steps). */
  readonly running: string;
  /** The image the upgrade leaves. */
  readonly target: string;
  /** The image the release's values render; undefined when the chart layout is not recognised or the values were not read. */
  readonly rendered: string | undefined;
}

export interface HelmAdvice {
  readonly release: string;
  readonly namespace: string;
  /** helm: `helm upgrade` is how the release changes; flux: a HelmRelease in Git is (helm-controller runs Helm). */
  readonly via: { readonly tool: 'helm' } | { readonly tool: 'flux'; readonly name: string; readonly namespace: string };
  readonly components: readonly string[];
  readonly values: HelmReleaseRead['outcome'];
  readonly valuesDetail: string | undefined;
  readonly revision: number | undefined;
  readonly chart: { readonly name: string; readonly version: string } | undefined;
  /** peerdb-chart: the values follow the PeerDB chart's layout; unknown: not recognised (or not read). */
  readonly layout: 'peerdb-chart' | 'unknown';
  readonly renders: readonly HelmRender[];
  /** true: the release renders the target for every component; false: it does not; undefined: cannot tell. */
  readonly agrees: boolean | undefined;
  /** Values to set, in order (dotted keys). Empty when nothing is known to set. */
  readonly set: readonly (readonly [string, string])[];
  /** The ready command (helm releases with values to set). */
  readonly command: string | undefined;
  /** The values to set as a YAML snippet to commit (with a comment header). */
  readonly valuesYaml: string | undefined;
  /** What else the user must know or check, one line each. */
  readonly notes: readonly string[];
}

export interface GitOpsOwnership {
  readonly manager: 'argocd' | 'flux';
  /** `Argo CD application X` / `Flux HelmRelease ns/name`. */
  readonly what: string;
  readonly components: readonly string[];
  /** How the owner was recognised. */
  readonly evidence: string;
  /** Commands that suspend and resume its reconciliation. */
  readonly suspend: string;
  readonly resume: string;
}

export interface PlanOwnership {
  /** The image tag the upgrade sets, e.g. stable-v0.37.4. */
  readonly targetTag: string;
  readonly components: readonly ComponentOwnership[];
  readonly helm: readonly HelmAdvice[];
  readonly gitops: readonly GitOpsOwnership[];
}

export interface OwnershipInput {
  readonly spec: ClusterSpec;
  readonly workloads: ReadonlyMap<string, WorkloadState | undefined>;
  readonly helmReleases: ReadonlyMap<string, HelmReleaseRead> | undefined;
  /** The target version's tag, e.g. v0.37.4. */
  readonly to: string;
  /** Where the user installs the chart from (fills CHART in the helm command). */
  readonly helmChart?: string | undefined;
}

/** The key for ObservedState.helmReleases. */
export const releaseKey = (namespace: string, release: string): string => `${namespace}/${release}`;

export function planOwnership(input: OwnershipInput): PlanOwnership {
  const { spec } = input;
  const components: ComponentOwnership[] = [];
  const running = new Map<string, string>();
  for (const component of spec.components) {
    const w = input.workloads.get(component.workload);
    if (!w) continue;
    components.push({ component: component.name, workload: component.workload, owner: w.owner });
    const container = pickContainer(w, component);
    if (container) running.set(component.name, container);
  }

  const helmGroups = new Map<string, ComponentOwnership[]>();
  const gitopsGroups = new Map<string, ComponentOwnership[]>();
  for (const c of components) {
    const helm = c.owner.helm;
    if (helm) {
      const key = releaseKey(helm.namespace, helm.release);
      helmGroups.set(key, [...(helmGroups.get(key) ?? []), c]);
    }
    if (isGitOps(c.owner)) {
      const key = describeOwner(c.owner);
      gitopsGroups.set(key, [...(gitopsGroups.get(key) ?? []), c]);
    }
  }

  const helm = [...helmGroups].map(([key, owned]) => helmAdvice(input, owned, running, input.helmReleases?.get(key)));
  const gitops = [...gitopsGroups].map(([what, owned]) => gitopsOwnership(what, owned));
  return { targetTag: `${spec.images.tagPrefix}${input.to}`, components, helm, gitops };
}

function pickContainer(w: WorkloadState, component: ComponentSpec): string | undefined {
  const named = component.container ?? component.name;
  return (w.containers.find((c) => c.name === named) ?? (w.containers.length === 1 ? w.containers[0] : undefined))?.image;
}

function targetImage(spec: ClusterSpec, component: ComponentSpec, to: string): string {
  return `${component.image ?? `${spec.images.registry}/${component.name}`}:${spec.images.tagPrefix}${to}`;
}

function gitopsOwnership(what: string, owned: readonly ComponentOwnership[]): GitOpsOwnership {
  const owner = owned[0]!.owner;
  const names = owned.map((c) => c.component);
  if (owner.manager === 'argocd') {
    return {
      manager: 'argocd',
      what,
      components: names,
      evidence: owner.evidence === 'tracking-id' ? 'annotation argocd.argoproj.io/tracking-id' : 'label app.kubernetes.io/instance on objects labelled managed-by Helm without Helm release annotations',
      suspend: `argocd app set ${owner.application} --sync-policy none`,
      resume: `argocd app set ${owner.application} --sync-policy automated`,
    };
  }
  if (owner.manager !== 'flux') throw new Error(`not a GitOps owner: ${owner.manager}`);
  const kind = owner.kind === 'HelmRelease' ? 'helmrelease' : 'kustomization';
  return {
    manager: 'flux',
    what,
    components: names,
    evidence: owner.kind === 'HelmRelease' ? 'label helm.toolkit.fluxcd.io/name' : 'label kustomize.toolkit.fluxcd.io/name',
    suspend: `flux suspend ${kind} ${owner.name} -n ${owner.namespace}`,
    resume: `flux resume ${kind} ${owner.name} -n ${owner.namespace}`,
  };
}

function helmAdvice(input: OwnershipInput, owned: readonly ComponentOwnership[], running: ReadonlyMap<string, string>, read: HelmReleaseRead | undefined): HelmAdvice {
  const { spec, to } = input;
  const mark = owned[0]!.owner.helm!;
  const owner = owned[0]!.owner;
  const via: HelmAdvice['via'] = owner.manager === 'flux' && owner.kind === 'HelmRelease' ? { tool: 'flux', name: owner.name, namespace: owner.namespace } : { tool: 'helm' };
  const targetTag = `${spec.images.tagPrefix}${to}`;
  const release = read?.outcome === 'read' ? read.release : undefined;
  const merged = release ? coalesce(release.chartValues, release.config) : undefined;
  const notes: string[] = [];
  const set = new Map<string, string>();
  const renders: HelmRender[] = [];
  let layout: HelmAdvice['layout'] = merged ? 'peerdb-chart' : 'unknown';

  for (const c of owned) {
    const component = spec.components.find((s) => s.name === c.component)!;
    const target = targetImage(spec, component, to);
    const now = running.get(c.component) ?? '';
    const rendered = merged ? renderedImage(merged, c.component, [parseImageRef(now).repository, parseImageRef(target).repository]) : undefined;
    if (merged && rendered === undefined) layout = 'unknown';
    renders.push({ component: c.component, running: now, target, rendered });
  }
  if (layout === 'peerdb-chart' && merged) {
    // peerdb.version is the chart's version knob: set it whenever anything is off, then each override that pins an old tag.
    const base = str(get(merged, 'peerdb.version'));
    const anyOff = renders.some((r) => r.rendered !== r.target);
    if (anyOff && base !== targetTag) set.set('peerdb.version', targetTag);
    for (const r of renders) {
      const key = PEERDB_CHART_KEYS[r.component]!;
      const override = key === 'peerdb' ? undefined : str(get(merged, `${key}.version`));
      if (override && override !== targetTag) set.set(`${key}.version`, targetTag);
      const repository = parseImageRef(r.target).repository;
      if (str(get(merged, `${key}.image.repository`)) !== repository) set.set(`${key}.image.repository`, repository);
    }
    const overridden = PEERDB_CHART_OVERRIDES.filter((k) => str(get(merged, k)) && str(get(merged, k)) !== targetTag);
    if (overridden.length > 0) {
      notes.push(`the release pins ${overridden.map((k) => `${k}=${str(get(merged, k))}`).join(', ')}: per-component overrides win over peerdb.version, so each is set to ${targetTag} too (or delete it from your values file to follow peerdb.version)`);
    }
    const left = Object.keys(PEERDB_CHART_KEYS).filter((name) => !owned.some((c) => c.component === name));
    if (set.has('peerdb.version') && left.length > 0) {
      notes.push(`peerdb.version also sets the image of ${left.join(', ')} (not upgraded by this spec) unless an override pins it: that helm upgrade would roll ${left.length === 1 ? 'it' : 'them'} to ${targetTag}`);
    }
  } else if (release && merged) {
    const found = versionValues(release.config, spec.images.tagPrefix).filter((v) => v.value !== targetTag && !v.value.endsWith(`:${targetTag}`));
    notes.push(
      `the release's values do not follow the PeerDB chart's layout (peerdb.version with flowApi.version, … and <component>.image.repository), so the keys that set these images are not known: set each component's image tag to ${targetTag} in the release's values the way the chart ${release.chart.name} ${release.chart.version} expects`,
    );
    if (found.length > 0) notes.push(`values of the release that name another version: ${found.map((v) => `${v.path}=${v.value}`).join(', ')}`);
  } else {
    notes.push(`the release's values were not read (${read && read.outcome !== 'read' ? read.detail : 'not looked up'}), so its per-component overrides are unknown`);
    if (owned.every((c) => c.component in PEERDB_CHART_KEYS)) {
      notes.push(
        `if it is the PeerDB chart: set peerdb.version=${targetTag}, and check \`helm get values ${mark.release} -n ${mark.namespace}\` for ${PEERDB_CHART_OVERRIDES.join(', ')}: each one set pins its component and needs --set KEY=${targetTag} too`,
      );
      set.set('peerdb.version', targetTag);
    }
  }

  const agrees = layout === 'peerdb-chart' ? renders.every((r) => r.rendered === r.target) : undefined;
  const pairs = [...set];
  const chartRef = input.helmChart ?? 'CHART';
  let command: string | undefined;
  if (pairs.length > 0 && via.tool === 'helm') {
    // The chart version the release runs: the chart's defaults stay what they are (ignored for a directory).
    const version = release?.chart.version ? ` --version ${shellWord(release.chart.version)}` : '';
    command = `helm upgrade ${mark.release} ${shellWord(chartRef)} -n ${mark.namespace}${version} --reuse-values ${pairs.map(([k, v]) => `--set ${k}=${v}`).join(' ')}`;
    if (input.helmChart === undefined) {
      notes.push(
        `CHART: where you install ${release ? `chart ${release.chart.name} ${release.chart.version}` : 'the chart'} from (a repository alias such as peerdb/peerdb, or a directory); --helm-chart REF prints it in place`,
      );
    }
  }
  if (via.tool === 'flux') {
    notes.push(`Flux HelmRelease ${via.namespace}/${via.name} installs this release: put these values into its spec.values in Git (helm-controller would undo a manual helm upgrade), then \`flux resume helmrelease ${via.name} -n ${via.namespace}\``);
  }
  const valuesYaml = pairs.length > 0 ? valuesSnippet(mark.release, mark.namespace, to, pairs) : undefined;
  return {
    release: mark.release,
    namespace: mark.namespace,
    via,
    components: owned.map((c) => c.component),
    values: read?.outcome ?? 'not-found',
    valuesDetail: read && read.outcome !== 'read' ? read.detail : undefined,
    revision: release?.revision,
    chart: release ? { name: release.chart.name, version: release.chart.version } : undefined,
    layout,
    renders,
    agrees,
    set: pairs,
    command,
    valuesYaml,
    notes,
  };
}

/** The image the PeerDB chart renders for a component: `<key>.image.repository:<key>.version | default peerdb.version`. */
function renderedImage(values: Record<string, unknown>, component: string, repositories: readonly string[]): string | undefined {
  const key = PEERDB_CHART_KEYS[component];
  if (!key) return undefined;
  const base = str(get(values, 'peerdb.version'));
  const repository = str(get(values, `${key}.image.repository`));
  if (!base || !repository || !repositories.includes(repository)) return undefined;
  const override = key === 'peerdb' ? undefined : str(get(values, `${key}.version`));
  return `${repository}:${override || base}`;
}

/** Helm's coalescing of user values over chart defaults: maps merge, a user null deletes. */
export function coalesce(defaults: Readonly<Record<string, unknown>>, user: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(user)) {
    if (value === null) delete out[key];
    else if (isObject(value) && isObject(out[key])) out[key] = coalesce(out[key] as Record<string, unknown>, value);
    else out[key] = value;
  }
  return out;
}

function get(values: Record<string, unknown>, path: string): unknown {
  let at: unknown = values;
  for (const part of path.split('.')) {
    if (!isObject(at)) return undefined;
    at = at[part];
  }
  return at;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Paths of values that look like a PeerDB image tag (`<prefix>vX.Y…`, alone or at the end of an image). Only such values are ever shown. */
export function versionValues(values: Readonly<Record<string, unknown>>, tagPrefix: string, prefix = ''): { path: string; value: string }[] {
  const out: { path: string; value: string }[] = [];
  const pattern = new RegExp(`(^|:)${escapeRegExp(tagPrefix)}v\\d+\\.\\d+[\\w.-]*$`);
  for (const [key, value] of Object.entries(values)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof value === 'string' && pattern.test(value)) out.push({ path, value });
    else if (isObject(value)) out.push(...versionValues(value, tagPrefix, path));
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function valuesSnippet(release: string, namespace: string, to: string, pairs: readonly (readonly [string, string])[]): string {
  const doc: Record<string, unknown> = {};
  for (const [key, value] of pairs) {
    const parts = key.split('.');
    let at = doc;
    for (const part of parts.slice(0, -1)) at = (at[part] ??= {}) as Record<string, unknown>;
    at[parts.at(-1)!] = value;
  }
  return `# Helm values for release ${release} (namespace ${namespace}) after the upgrade to ${to} by peerdb-upgrade:\n# merge them into the values file the release is installed with, and commit it.\n${stringify(doc)}`;
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** One line per release that does not render the target, for the plan's warnings. */
export function ownershipWarnings(ownership: PlanOwnership, to: string): PlanNote[] {
  const warnings: PlanNote[] = [];
  for (const h of ownership.helm) {
    if (h.agrees === true) continue;
    const stale = h.renders.filter((r) => r.rendered !== undefined && r.rendered !== r.target);
    if (h.agrees === false) {
      const tags = [...new Set(stale.map((r) => parseImageRef(r.rendered!).tag ?? r.rendered!))].join(', ');
      warnings.push(
        `Helm release ${h.release} renders ${stale.map((r) => r.component).join(', ')} with ${tags}, not ${to}: its next \`helm upgrade --reuse-values\` would put ${stale.length === 1 ? 'it' : 'them'} back; make the release agree (see "helm" below)`,
      );
    } else {
      warnings.push(`Helm release ${h.release} owns ${h.components.join(', ')}; whether its values name ${to} is not known (see "helm" below): a \`helm upgrade --reuse-values\` may put the old images back`);
    }
  }
  for (const g of ownership.gitops) {
    warnings.push({ kind: 'reconciliation-active', what: g.what, components: g.components, suspend: g.suspend });
  }
  return warnings;
}

export type { HelmReleaseState };
