import type { WorkloadState } from '../cluster/types.js';
import type { ClusterSpec } from '../spec/schema.js';
import { describeRunning, peerdbContainers } from './peerdb-images.js';
import type { PlanNote } from './plan-types.js';
import { compareText } from '../compare.js';

/**
 * Warnings for PeerDB workloads the namespace runs and the spec does not name: they would stay on
 * their version while the rest moves on, which nobody should learn from a broken mirror later.
 */
export function uncoveredWorkloadWarnings(spec: ClusterSpec, namespaceWorkloads: readonly WorkloadState[] | 'forbidden' | undefined): PlanNote[] {
  if (namespaceWorkloads === undefined) return [];
  if (namespaceWorkloads === 'forbidden') {
    return [`cannot list Deployments and StatefulSets in ${spec.namespace} (forbidden): PeerDB workloads the spec leaves out are not checked`];
  }
  const covered = new Set(spec.components.map((c) => c.workload));
  const warnings: PlanNote[] = [];
  for (const workload of [...namespaceWorkloads].sort((a, b) => compareText(`${a.kind}/${a.name}`, `${b.kind}/${b.name}`))) {
    const ref = `${workload.kind}/${workload.name}`;
    if (covered.has(ref)) continue;
    const found = peerdbContainers(workload);
    if (found.length === 0) continue;
    const runs = found.map((f) => `${f.component} ${describeRunning(f)}`).join(', ');
    warnings.push({ kind: 'uncovered-workload', workload: ref, runs, namespace: spec.namespace });
  }
  return warnings;
}
