import type { WorkloadState } from '../cluster/types.js';
import type { HelmMark } from '../cluster/workload-owner.js';
import { PEERDB_IMAGE_NAMES, describeRunning, peerdbContainers, type PeerDBContainer, type PeerDBImageName } from '../plan/peerdb-images.js';
import { compareVersions, type Version } from '../spec/version.js';
import { HELM_DEFAULT_COMPONENTS } from '../spec/helm-defaults.js';
import { compareText } from '../compare.js';

/** What `init` reads of a namespace: its workloads, and the keys of ConfigMaps they take env from. */
export interface NamespaceView {
  readonly namespace: string;
  readonly workloads: readonly WorkloadState[];
  /** ConfigMap name → its keys; undefined = not found (or not readable). */
  readonly configMapKeys: ReadonlyMap<string, readonly string[] | undefined>;
}

/** One PeerDB component as found: the workload and container that run its image. */
export interface FoundComponent {
  readonly name: PeerDBImageName;
  /** `Deployment/flow-api` */
  readonly workload: string;
  readonly replicas: number;
  /** The container name, when the component name alone would not pick it (several containers). */
  readonly container: string | undefined;
  readonly image: PeerDBContainer;
}

export interface Discovery {
  readonly namespace: string;
  /** metadata.name, and where it came from. */
  readonly name: { readonly value: string; readonly source: string };
  /** Components decided: exactly one workload runs their image. */
  readonly found: readonly FoundComponent[];
  /** Default components with no workload in the namespace. */
  readonly missing: readonly PeerDBImageName[];
  /** Components with several candidate workloads: left out, named in `undecided`. */
  readonly ambiguous: ReadonlyMap<PeerDBImageName, readonly string[]>;
  /** The registry most components come from (spec.images.registry). */
  readonly registry: string | undefined;
  /** The tag prefix every versioned image shares (spec.images.tagPrefix), if they agree. */
  readonly tagPrefix: string | undefined;
  /** The newest version the found components run; the oldest, for the report. */
  readonly newest: Version | undefined;
  readonly oldest: Version | undefined;
  readonly helm: readonly HelmMark[];
  /** Maintenance mode can be used: flow-worker has the Temporal and catalog settings. */
  readonly maintenance: { readonly usable: boolean; readonly reason: string };
  /** What init could not decide, one line each, for the user to settle. */
  readonly undecided: readonly string[];
}

/** The settings a maintenance Job needs and copies from flow-worker (see docs: peerdb.md). */
export const MAINTENANCE_ENV = ['TEMPORAL_HOST_PORT', 'PEERDB_CATALOG_HOST'] as const;

const DEFAULT_NAME = 'peerdb';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Finds the PeerDB installation a namespace runs. Pure: the same view always gives the same
 * answer, and what it cannot decide it names instead of guessing.
 */
export function discoverPeerDB(view: NamespaceView): Discovery {
  const undecided: string[] = [];
  const candidates = new Map<PeerDBImageName, { workload: WorkloadState; image: PeerDBContainer }[]>();
  const workloads = [...view.workloads].sort((a, b) => compareText(`${a.kind}/${a.name}`, `${b.kind}/${b.name}`));
  for (const workload of workloads) {
    for (const image of peerdbContainers(workload)) {
      candidates.set(image.component, [...(candidates.get(image.component) ?? []), { workload, image }]);
    }
  }

  const found: FoundComponent[] = [];
  const missing: PeerDBImageName[] = [];
  const ambiguous = new Map<PeerDBImageName, string[]>();
  for (const name of PEERDB_IMAGE_NAMES) {
    const list = candidates.get(name) ?? [];
    if (list.length === 0) {
      missing.push(name);
      continue;
    }
    if (list.length > 1) {
      const refs = list.map((c) => `${c.workload.kind}/${c.workload.name} (${describeRunning(c.image)})`);
      ambiguous.set(name, refs);
      undecided.push(`${name}: ${list.length} workloads run its image: ${refs.join(', ')}; left out of the spec — name the one to upgrade under spec.components`);
      continue;
    }
    const { workload, image } = list[0]!;
    const byName = workload.containers.some((c) => c.name === name);
    found.push({
      name,
      workload: `${workload.kind}/${workload.name}`,
      replicas: workload.replicas,
      container: byName || workload.containers.length === 1 ? undefined : image.container.name,
      image,
    });
  }

  const registry = mostCommon(found.map((f) => f.image.registry));
  const prefixes = [...new Set(found.filter((f) => f.image.version).map((f) => f.image.tagPrefix!))];
  const tagPrefix = prefixes.length === 1 ? prefixes[0] : undefined;
  if (prefixes.length > 1) {
    undecided.push(`the images use different tag prefixes (${found.filter((f) => f.image.version).map((f) => `${f.name} ${f.image.tag}`).join(', ')}); spec.images.tagPrefix holds one`);
  }
  for (const f of found) {
    if (!f.image.version) {
      undecided.push(`${f.name}: ${f.workload} runs ${f.image.container.image}, whose tag is not a release version; its version is unknown`);
    }
  }
  const versions = found.flatMap((f) => (f.image.version ? [f.image.version] : [])).sort(compareVersions);
  const oldest = versions[0];
  const newest = versions.at(-1);
  if (oldest && newest && compareVersions(oldest, newest) !== 0) {
    undecided.push(`the components run different versions (${found.filter((f) => f.image.version).map((f) => `${f.name} ${f.image.version!.tag}`).join(', ')})`);
  }

  // Helm's own marks, read by the one reading of ownership the planner uses too (workload-owner.ts).
  const helm = uniqueMarks(found.map((f) => workloads.find((w) => `${w.kind}/${w.name}` === f.workload)?.owner.helm));
  if (helm.length > 1) undecided.push(`the components belong to ${helm.length} Helm releases (${helm.map((h) => h.release).join(', ')})`);

  const maintenance = maintenanceOf(found, view);
  if (maintenance.usable && maintenance.reason.includes('assumed')) undecided.push(`maintenance: ${maintenance.reason}`);

  return {
    namespace: view.namespace,
    name: nameOf(found, helm),
    found,
    missing,
    ambiguous,
    registry,
    tagPrefix,
    newest,
    oldest,
    helm,
    maintenance,
    undecided,
  };
}

/** The default component a found one differs from, for writing only the differences. */
export function defaultOf(name: string) {
  return HELM_DEFAULT_COMPONENTS.find((c) => c.name === name);
}

function nameOf(found: readonly FoundComponent[], helm: readonly HelmMark[]): Discovery['name'] {
  if (helm.length === 1 && DNS_LABEL.test(helm[0]!.release)) return { value: helm[0]!.release, source: `named after the Helm release ${helm[0]!.release}` };
  return { value: DEFAULT_NAME, source: 'no single Helm release to name it after' };
}

function maintenanceOf(found: readonly FoundComponent[], view: NamespaceView): Discovery['maintenance'] {
  const worker = found.find((f) => f.name === 'flow-worker');
  if (!worker) return { usable: false, reason: 'no single flow-worker found: the maintenance Jobs copy its env' };
  const container = worker.image.container;
  const names = new Set(container.env.map((e) => e.name));
  const unread: string[] = [];
  for (const from of container.envFrom) {
    if (from.configMapRef) {
      const keys = view.configMapKeys.get(from.configMapRef.name);
      if (keys) keys.forEach((k) => names.add(`${from.prefix ?? ''}${k}`));
      else unread.push(`ConfigMap ${from.configMapRef.name}`);
    }
    // Secret values are never read; a Secret's keys might hold the settings.
    if (from.secretRef) unread.push(`Secret ${from.secretRef.name}`);
  }
  const lacking = MAINTENANCE_ENV.filter((name) => !names.has(name));
  if (lacking.length === 0) return { usable: true, reason: `${worker.workload} carries the Temporal and catalog settings the maintenance Jobs copy` };
  if (unread.length > 0) {
    return { usable: true, reason: `${lacking.join(' and ')} not seen on ${worker.workload}; assumed to come from ${unread.join(', ')} (not read)` };
  }
  return { usable: false, reason: `${worker.workload} has no ${lacking.join(' or ')}: the maintenance Jobs, which copy its env, could not reach Temporal and the catalog` };
}

function mostCommon(values: readonly string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | undefined;
  for (const [v, n] of counts) if (best === undefined || n > counts.get(best)!) best = v;
  return best;
}

function uniqueMarks(marks: readonly (HelmMark | undefined)[]): HelmMark[] {
  const seen = new Map<string, HelmMark>();
  for (const m of marks) if (m) seen.set(`${m.namespace}/${m.release}`, m);
  return [...seen.values()];
}
