/**
 * Scale: plan computation time and checkpoint size for StatefulSets of growing size, in-process on
 * synthetic observed state (the unit tests' fakes), with the CLI's own planner and checkpoint code.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { applyUpgrade } from '../../src/apply/apply-upgrade.js';
import { CHECKPOINT_KEY, newCheckpoint, parseCheckpoint, serializeCheckpoint, type Checkpoint } from '../../src/apply/checkpoint.js';
import { snapshotObserved } from '../../src/apply/snapshot.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { parseSpecText, resolveSpec } from '../../src/spec/load-spec.js';
import { repoRoot } from '../../test/e2e/harness.js';
import { applyRequest } from '../../test/unit/fakes/apply-request.js';
import { MemoryCluster } from '../../test/unit/fakes/memory-cluster.js';
import { helmInstallation } from '../../test/unit/fakes/workloads.js';

export interface ScaleRow {
  replicas: number;
  steps: number;
  planMs: number;
  checkpointBytes: number;
  serializeMs: number;
  parseMs: number;
  /** Every checkpoint a whole run writes, measured: the executor against the in-memory cluster. */
  bytesWrittenPerRun: number;
  writesPerRun: number;
}

/**
 * What a whole run writes to the checkpoint ConfigMap: the real executor (applyUpgrade) upgrades a
 * Helm installation with `replicas` snapshot workers in the in-memory cluster, and every write is
 * counted as sent (test/unit/checkpoint-bytes.test.ts checks each is a valid checkpoint).
 */
async function measureWrites(replicas: number): Promise<{ bytesWrittenPerRun: number; writesPerRun: number }> {
  const cluster = new MemoryCluster().seedHelm('peerdb', 'v0.36.7', { snapshotReplicas: replicas });
  const outcome = await applyUpgrade(applyRequest(cluster).request);
  if (outcome.kind !== 'done') throw new Error(`scale: the ${replicas}-replica run ended ${outcome.kind}`);
  const texts = cluster.calls
    .filter((c) => c.method === 'writeConfigMap' && !(c.args[4] as { dryRun?: boolean } | undefined)?.dryRun)
    .map((c) => (c.args[2] as { data: Record<string, string> }).data[CHECKPOINT_KEY] ?? '');
  return { bytesWrittenPerRun: texts.reduce((sum, text) => sum + Buffer.byteLength(text), 0), writesPerRun: texts.length };
}

/** Median time of `fn`, after a warm-up, over at least 300 ms or 200 iterations. */
function timeIt(fn: () => unknown): number {
  for (let i = 0; i < 3; i++) fn();
  const samples: number[] = [];
  const until = performance.now() + 300;
  while (samples.length < 5 || (performance.now() < until && samples.length < 200)) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

export async function benchScale(sizes: number[]): Promise<ScaleRow[]> {
  const file = path.join(repoRoot, 'plans/helm-default.yaml');
  const spec = resolveSpec(parseSpecText(file, readFileSync(file, 'utf8')).document, {});
  const rows: ScaleRow[] = [];
  for (const replicas of sizes) {
    const observed = { workloads: helmInstallation('v0.36.7', replicas) };
    const plan = computePlan(spec, { mode: 'live', observed });
    const planMs = timeIt(() => computePlan(spec, { mode: 'live', observed }));
    const now = new Date('2025-06-01T12:00:00.000Z');
    const checkpoint: Checkpoint = newCheckpoint({
      plan,
      specHash: 'f'.repeat(64),
      runId: '20250601T120000Z-abcdef',
      host: 'a-rather-long-ci-runner-hostname-0123456789',
      holder: 'runner@a-rather-long-ci-runner-hostname-0123456789',
      now,
      initial: snapshotObserved(observed),
      history: Array.from({ length: 10 }, (_, i) => ({
        run: `2025050${i}T120000Z-abcdef`,
        from: 'v0.36.6',
        to: 'v0.36.7',
        plan: 'abcdefabcdef',
        started: now.toISOString(),
        finished: now.toISOString(),
        result: 'done' as const,
      })),
    });
    // The largest it gets: every step done, with both timestamps.
    for (const s of checkpoint.steps) Object.assign(s, { s: 'done', a: 1, t0: now.toISOString(), t1: now.toISOString() });
    checkpoint.run.state = 'done';
    const text = serializeCheckpoint(checkpoint);
    const checkpointBytes = Buffer.byteLength(text);
    rows.push({
      replicas,
      steps: plan.steps.length,
      planMs,
      checkpointBytes,
      serializeMs: timeIt(() => serializeCheckpoint(checkpoint)),
      parseMs: timeIt(() => parseCheckpoint(text, 'bench')),
      ...(await measureWrites(replicas)),
    });
  }
  return rows;
}
