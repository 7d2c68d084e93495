/**
 * The labels and annotations peerdb-upgrade puts on what it creates (Jobs, the checkpoint
 * ConfigMap, the Lease): one list, used by the planner and the executor alike.
 */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'peerdb-upgrade';
const PREFIX = 'peerdb-upgrade.peerdb.io';
export const LABEL_CLUSTER = `${PREFIX}/cluster`;
export const LABEL_STEP = `${PREFIX}/step`;
export const LABEL_PLAN = `${PREFIX}/plan`;
export const LABEL_RUN = `${PREFIX}/run`;
export const ANNOTATION_TARGET = `${PREFIX}/target-version`;
/** On the Lease: who holds it, for `status` and for refusals. */
export const ANNOTATION_HOST = `${PREFIX}/host`;
export const ANNOTATION_RUN = `${PREFIX}/run`;
export const ANNOTATION_PLAN = `${PREFIX}/plan`;
/**
 * On a StatefulSet while a run rolls it: the user's own partition, set with the patch that holds
 * every pod and removed with the one that sets it back. A run whose checkpoint was lost reads the
 * user's partition here, not the one a dead run left mid-roll.
 */
export const ANNOTATION_PARTITION = `${PREFIX}/user-partition`;

/** The labels of the checkpoint ConfigMap and the Lease of a cluster spec. */
export function ownedLabels(cluster: string): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY, [LABEL_CLUSTER]: cluster };
}
