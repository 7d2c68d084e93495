import type { WorkloadState } from '../cluster/types.js';
import type { ClusterSpec } from '../spec/schema.js';
import { describeRunning, peerdbContainers } from './peerdb-images.js';

/**
 * Warnings for PeerDB workloads the namespace runs and the spec does not name: they would stay on
 * their version while the rest moves on, which nobody should learn from a broken mirror later.
 */
export function uncoveredWorkloadWarnings(spec: ClusterSpec, namespaceWorkloads: readonly WorkloadState[] | 'forbidden' | undefined): string[] {
  if (namespaceWorkloads === undefined) return [];
  if (namespaceWorkloads === 'forbidden') {
    return [`cannot list Deployments and StatefulSets in ${spec.namespace} (forbidden): PeerDB workloads the spec leaves out are not checked`];
  }
  const covered = new Set(spec.components.map((c) => c.workload));
  const warnings: string[] = [];
  for (const workload of [...namespaceWorkloads].sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`))) {
    const ref = `${workload.kind}/${workload.name}`;
    if (covered.has(ref)) continue;
    const found = peerdbContainers(workload);
    if (found.length === 0) continue;
    const runs = found.map((f) => `${f.component} ${describeRunning(f)}`).join(', ');
    warnings.push(`${ref} runs PeerDB ${runs} and is not in the spec: it is not upgraded (add it under spec.components, or \`peerdb-upgrade init\` to see what the namespace runs)`);
  }
  return warnings;
}
