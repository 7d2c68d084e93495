import type { ClusterReader } from '../cluster/port.js';
import { UserError } from '../errors.js';
import { computePlan } from '../plan/compute-plan.js';
import { observeCluster } from '../apply/observe-cluster.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { ObservedState } from '../plan/plan-input.js';
import { peerdbContainers } from '../plan/peerdb-images.js';
import type { Plan } from '../plan/plan-types.js';
import { parseVersion } from '../spec/version.js';
import { parseSpecText, resolveSpec } from '../spec/load-spec.js';
import { discoverPeerDB, type Discovery } from './discover-peerdb.js';
import { writeSpecText } from './write-spec.js';

export interface InitResult {
  readonly text: string;
  readonly discovery: Discovery;
  /** The live plan of the written spec: proof that it plans, and what it would do. */
  readonly plan: Plan;
}

/** init may not list the namespace's workloads. The CLI words the way out (the Role `rbac` prints). */
export class CannotListWorkloads extends UserError {
  constructor(readonly namespace: string) {
    super(`cannot list Deployments and StatefulSets in namespace ${namespace} (forbidden)`);
    this.name = 'CannotListWorkloads';
  }
}

/**
 * `peerdb-upgrade init`: reads the namespace, discovers the installation (a pure function of what
 * was read), writes the spec, and checks that it validates and plans against the same cluster.
 */
export async function initSpec(
  cluster: ClusterReader,
  options: { namespace: string; to?: string | undefined; file: string; command: string; readCheckpoint: (spec: ClusterSpec) => Promise<ObservedState['unfinishedRun']> },
): Promise<InitResult> {
  let to;
  if (options.to !== undefined) {
    const parsed = parseVersion(options.to);
    if (!parsed.ok) throw new UserError(`--to: ${parsed.reason}`);
    to = parsed.version;
  }
  const workloads = await cluster.listWorkloads(options.namespace);
  if (workloads === 'forbidden') {
    throw new CannotListWorkloads(options.namespace);
  }
  // The keys (never the values) of ConfigMaps the PeerDB containers take env from: whether the
  // maintenance Jobs would get the Temporal and catalog settings.
  const names = new Set(workloads.flatMap((w) => peerdbContainers(w).flatMap((p) => p.container.envFrom.flatMap((e) => (e.configMapRef ? [e.configMapRef.name] : [])))));
  const configMapKeys = new Map<string, readonly string[] | undefined>();
  for (const name of names) {
    const configMap = await cluster.getConfigMap(options.namespace, name).catch(() => undefined);
    configMapKeys.set(name, configMap ? Object.keys(configMap.data) : undefined);
  }
  const discovery = discoverPeerDB({ namespace: options.namespace, workloads, configMapKeys });
  const text = writeSpecText(discovery, { to, command: options.command });

  const spec = resolveSpec(parseSpecText(options.file, text).document);
  const observed = await observeCluster(spec, cluster, () => options.readCheckpoint(spec));
  let plan: Plan;
  try {
    plan = computePlan(spec, { mode: 'live', observed });
  } catch (error) {
    if (error instanceof UserError) throw new UserError(`the spec init would write does not plan: ${error.message}`, { hint: error.hint ?? 'pick another --to' });
    throw error;
  }
  return { text, discovery, plan };
}
