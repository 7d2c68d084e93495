import type { ClusterPort, ClusterReader } from '../cluster/port.js';
import { ClusterError, isClusterError } from '../cluster/cluster-error.js';
import type { Clock } from './clock.js';
import { ownedLabels } from '../labels.js';
import type { ObservedState } from '../plan/plan-input.js';
import type { ClusterSpec } from '../spec/schema.js';
import { RunStopped } from './run-stop.js';
import { CHECKPOINT_KEY, firstUnfinishedStep, isUnfinished, parseCheckpoint, serializeCheckpoint, type Checkpoint } from './checkpoint.js';

/** Conflicts re-read and retried before a write gives up. */
const WRITE_ATTEMPTS = 5;

export interface StoredCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly resourceVersion: string;
}

export async function readCheckpoint(cluster: ClusterReader, spec: ClusterSpec): Promise<StoredCheckpoint | undefined> {
  const configMap = await cluster.getConfigMap(spec.namespace, spec.checkpointName);
  if (!configMap) return undefined;
  const text = configMap.data[CHECKPOINT_KEY];
  const where = `ConfigMap ${spec.namespace}/${spec.checkpointName}`;
  if (text === undefined) return undefined;
  return { checkpoint: parseCheckpoint(text, where), resourceVersion: configMap.resourceVersion };
}

/** For `plan`: an unfinished run, described in a few words. */
export async function readUnfinishedRun(cluster: ClusterReader, spec: ClusterSpec): Promise<ObservedState['unfinishedRun']> {
  const stored = await readCheckpoint(cluster, spec);
  if (!stored || !isUnfinished(stored.checkpoint)) return undefined;
  return { to: stored.checkpoint.run.to, stoppedAt: firstUnfinishedStep(stored.checkpoint)?.id };
}

/**
 * Writes the checkpoint with optimistic concurrency. A conflict means someone else wrote it since we
 * read it: re-read, and if it is still our run (same run id), write our copy over the newer
 * resourceVersion; never overwrite another run's checkpoint blindly. `unmoved` (a run's first
 * write, at the version it planned from): a conflict stops with checkpoint-moved instead, unless
 * what is there is this very write.
 */
export async function writeCheckpoint(
  cluster: ClusterPort,
  spec: ClusterSpec,
  checkpoint: Checkpoint,
  resourceVersion: string | undefined,
  options: { outage?: { ms: number; clock: Clock }; unmoved?: boolean } = {},
): Promise<string> {
  const content = {
    data: { [CHECKPOINT_KEY]: serializeCheckpoint(checkpoint) },
    labels: ownedLabels(spec.name),
  };
  let version = resourceVersion;
  let outageSince: number | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return (await cluster.writeConfigMap(spec.namespace, spec.checkpointName, content, version)).resourceVersion;
    } catch (error) {
      // No answer (the API server went away): send the same write again at the same
      // resourceVersion once it is back. Safe: if the first one landed, this one conflicts, and the
      // conflict is handled below by reading what is there.
      const outage = options.outage;
      if (outage && error instanceof ClusterError && error.retryable) {
        outageSince ??= outage.clock.now();
        if (outage.clock.now() - outageSince < outage.ms) {
          await outage.clock.sleep(1_000);
          attempt--;
          continue;
        }
      }
      const conflict = isClusterError(error, 'conflict') || isClusterError(error, 'already-exists');
      if (conflict && options.unmoved) {
        // The checkpoint must still be the one read at `resourceVersion`: what is there now is
        // either exactly this write (it went through, its answer was lost) or someone else's.
        const current = await cluster.getConfigMap(spec.namespace, spec.checkpointName);
        if (current && current.data[CHECKPOINT_KEY] === content.data[CHECKPOINT_KEY]) return current.resourceVersion;
        throw new RunStopped({ kind: 'checkpoint-moved' });
      }
      if (!conflict || attempt >= WRITE_ATTEMPTS) throw error;
      const current = await readCheckpoint(cluster, spec);
      if (current && current.checkpoint.run.id !== checkpoint.run.id) {
        throw new RunStopped({ kind: 'checkpoint-taken', runId: current.checkpoint.run.id, holder: current.checkpoint.run.holder });
      }
      version = current?.resourceVersion ?? (await cluster.getConfigMap(spec.namespace, spec.checkpointName))?.resourceVersion;
    }
  }
}
