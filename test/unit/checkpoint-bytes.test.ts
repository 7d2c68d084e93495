/**
 * Issue 14 item 5: the checkpoint is rewritten after every step, so what a 1000-replica run sends
 * to the API server is about a thousand checkpoints. It must stay under 10 MiB in all (77 MiB
 * before), and every one of those writes must be a valid checkpoint a resume can continue from.
 */
import { describe, expect, it } from 'vitest';
import { applyUpgrade } from '../../src/apply/apply-upgrade.js';
import { CHECKPOINT_KEY, parseCheckpoint } from '../../src/apply/checkpoint.js';
import { MemoryCluster } from './fakes/memory-cluster.js';
import { applyRequest } from './fakes/apply-request.js';

const NS = 'peerdb';
const STS = 'flow-snapshot-worker';

function checkpointWrites(cluster: MemoryCluster): string[] {
  return cluster.calls.filter((c) => c.method === 'writeConfigMap' && !(c.args[4] as { dryRun?: boolean } | undefined)?.dryRun).map((c) => (c.args[2] as { data: Record<string, string> }).data[CHECKPOINT_KEY]!);
}

describe('checkpoint bytes of a 1000-replica run', () => {
  it('writes at most 10 MiB of checkpoints, each a valid checkpoint', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, 'v0.36.7', { snapshotReplicas: 1000 });
    const outcome = (await applyUpgrade(applyRequest(cluster).request)) as { kind: string };
    expect(outcome.kind).toBe('done');
    const writes = checkpointWrites(cluster);
    expect(writes.length).toBeGreaterThan(1000);
    const bytes = writes.reduce((sum, text) => sum + Buffer.byteLength(text), 0);
    console.log(`checkpoint writes: ${writes.length}, ${(bytes / 1024 / 1024).toFixed(2)} MiB in all, largest ${(Math.max(...writes.map((w) => w.length)) / 1024).toFixed(1)} KiB`);
    expect(bytes).toBeLessThanOrEqual(10 * 1024 * 1024);
    // Every write is a whole checkpoint: every step of the plan, a run, the starting snapshot.
    const steps = parseCheckpoint(writes.at(-1)!, 'last write').steps.map((s) => s.id);
    expect(steps.filter((id) => id.startsWith(`statefulset-pod/${STS}/`))).toHaveLength(1000);
    for (const text of writes) {
      const checkpoint = parseCheckpoint(text, 'write');
      expect(checkpoint.steps.map((s) => s.id)).toEqual(steps);
      expect(checkpoint.initial[`StatefulSet/${STS}`]!.pods).toHaveLength(1000);
    }
  }, 300_000);

  it('resumes from a checkpoint written mid-roll: finished pod steps stay finished, the rest is done once', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, 'v0.36.7', { snapshotReplicas: 60 });
    await applyUpgrade(applyRequest(cluster, { abortAfterStep: `statefulset-pod/${STS}/30` }).request).catch(() => undefined);
    const before = parseCheckpoint(cluster.peekConfigMap(NS, 'peerdb-peerdb-upgrade')!.data[CHECKPOINT_KEY]!, 'x');
    expect(before.steps.filter((s) => s.id.startsWith(`statefulset-pod/${STS}/`) && s.s === 'done')).toHaveLength(30);
    const updatesBefore = cluster.podUpdates(NS, STS).length;
    const outcome = (await applyUpgrade(applyRequest(cluster, { mode: 'resume' }).request)) as { kind: string };
    expect(outcome.kind).toBe('done');
    const updates = cluster.podUpdates(NS, STS);
    expect(updates.slice(updatesBefore).map((u) => u.ordinal)).toEqual(Array.from({ length: 30 }, (_, i) => 29 - i));
    const after = parseCheckpoint(cluster.peekConfigMap(NS, 'peerdb-peerdb-upgrade')!.data[CHECKPOINT_KEY]!, 'x');
    expect(after.run.state).toBe('done');
  }, 120_000);
});
