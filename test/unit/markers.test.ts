import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { behaviourOf, EFFECTS, MARKERS } from './fakes/markers.js';
import { MemoryCluster } from './fakes/memory-cluster.js';
import type { JobManifest } from '../../src/cluster/types.js';

/**
 * One simulator vocabulary: the in-memory fake and the Go simulator of the e2e control plane read
 * the same markers, in the same order, in the same place (the image tag), with the same effect.
 */
const SIM_GO = readFileSync('test/cluster/cmd/launcher/sim.go', 'utf8');
const README = readFileSync('test/cluster/README.md', 'utf8');

/** The Go simulator's table: its behavior* constants, in the order of its `markers` slice. */
function goMarkers(): { marker: string; behaviour: string }[] {
  const constants = new Map([...SIM_GO.matchAll(/^\s*(behavior\w+)\s*=\s*"([^"]*)"/gm)].map((m) => [m[1]!, m[2]!]));
  const slice = /^var markers = \[\]string\{([^}]*)\}/m.exec(SIM_GO)?.[1];
  if (!slice) throw new Error('sim.go has no `var markers = []string{…}`');
  // sim.go's behaviorOf folds imagepull into badimage.
  const aliases: Record<string, string> = { imagepull: 'badimage' };
  return slice.split(',').map((name) => {
    const marker = constants.get(name.trim());
    if (marker === undefined) throw new Error(`sim.go: markers names ${name.trim()}, which is not a behavior constant`);
    return { marker, behaviour: aliases[marker] ?? marker };
  });
}

describe('the marker table', () => {
  it('is the Go simulator table, in its order', () => {
    expect(MARKERS.map((m) => ({ marker: m.marker, behaviour: m.behaviour }))).toEqual(goMarkers());
    expect(SIM_GO).toContain('if b == behaviorImagePull {\n\t\tb = behaviorBadImage');
  });

  it.each([
    ['ghcr.io/peerdb-io/flow-api:stable-v0.37.4', undefined],
    ['registry.invalid/badimage:1', undefined], // the repository says nothing: markers are in the tag only
    ['registry:5000/x/y:crashloop-v1', 'crashloop'],
    ['x:IMAGEPULL', 'badimage'],
    ['x:fail@sha256:abc', 'fail'],
    ['x:oomkill-fail', 'oomkill'], // the first marker of the table wins
    ['x', undefined],
  ])('%s → %s', (image, behaviour) => {
    expect(behaviourOf(image)).toBe(behaviour);
  });
});

describe('the fake kubelet speaks it', () => {
  const NS = 'peerdb';
  const STS = { kind: 'StatefulSet' as const, name: 'w' };
  const podOf = async (image: string) => {
    const cluster = new MemoryCluster().addNamespace(NS).addStatefulSet(NS, 'w', { image: 'w:1', replicas: 1 });
    await cluster.patchWorkload(NS, STS, { image: { container: 'w', image } });
    await cluster.deletePod(NS, 'w-0');
    cluster.tick(10);
    return cluster.peekPods(NS).find((p) => p.name === 'w-0')!;
  };

  it.each([
    ['w:crashloop', 'CrashLoopBackOff', false],
    ['w:oomkill', 'CrashLoopBackOff', false],
    // A long-running pod that exits non-zero is restarted: it crash-loops, as in sim.go.
    ['w:fail', 'CrashLoopBackOff', false],
    ['w:badimage', 'ImagePullBackOff', false],
    ['w:configerror', 'CreateContainerConfigError', false],
    ['w:notready', undefined, false],
    ['registry.invalid/badimage:2', undefined, true],
  ])('%s: waiting %s, ready %s', async (image, reason, ready) => {
    const pod = await podOf(image);
    expect(pod.waitingReason).toBe(reason);
    expect(pod.ready).toBe(ready);
  });
});

/** The rows of the README's marker table ("Misbehaviour on demand"): markers, long-running pod, Job pod. */
function readmeRows(): { markers: string[]; longRunning: string; jobPod: string }[] {
  const table = /\| marker \| long-running pod \| run-to-completion \(Job\) pod \|\n\|[-|]+\|\n((?:\|.*\|\n)+)/.exec(README)?.[1];
  if (!table) throw new Error('test/cluster/README.md has no marker table');
  return table.trim().split('\n').map((row) => {
    const [markers, longRunning, jobPod] = row.split('|').slice(1, 4).map((cell) => cell.trim());
    return { markers: [...markers!.matchAll(/`([a-z]+)`/g)].map((m) => m[1]!), longRunning: longRunning!, jobPod: jobPod! };
  });
}

describe('the documented table (test/cluster/README.md)', () => {
  const rows = readmeRows();

  it('lists every marker of the table, once', () => {
    expect(rows.flatMap((r) => r.markers).sort()).toEqual(MARKERS.map((m) => m.marker).sort());
  });

  it.each(rows.flatMap((r) => r.markers.map((marker) => [marker, r] as const)))('says for %s what the table does', (marker, row) => {
    const effect = EFFECTS[behaviourOf(`x:${marker}`)!];
    if (effect.cannotStart) {
      expect(row.longRunning).toContain(effect.cannotStart);
      expect(row.jobPod).toMatch(/^same/);
    }
    if (effect.exitsNonZero) {
      expect(row.longRunning).toMatch(/CrashLoopBackOff|as crashloop/);
      expect(row.jobPod).toContain('Failed');
    }
    if (effect.neverReady) {
      expect(row.longRunning).toContain('never ready');
      expect(row.jobPod).toContain('Succeeded');
    }
  });
});

describe('the fake Job controller speaks it', () => {
  const NS = 'peerdb';
  const job = (image: string): JobManifest => ({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'smoke', namespace: NS, labels: {}, annotations: {} },
    spec: {
      backoffLimit: 1,
      activeDeadlineSeconds: 600,
      template: { metadata: { labels: {} }, spec: { restartPolicy: 'Never', containers: [{ name: 'main', image }] } },
    },
  });

  it.each([
    ['busybox:crashloop', 'Failed'],
    ['busybox:oomkill', 'Failed'],
    // A Job pod is not restarted: one that exits non-zero fails the Job (BackoffLimitExceeded).
    ['busybox:fail', 'Failed'],
    ['busybox:badimage', 'active'],
    ['busybox:imagepull', 'active'],
    ['busybox:configerror', 'active'],
    ['busybox:notready', 'Complete'],
    ['busybox:1', 'Complete'],
  ])('%s: the Job ends %s', async (image, end) => {
    const cluster = new MemoryCluster().addNamespace(NS);
    await cluster.createJob(NS, job(image));
    cluster.tick(20);
    const state = cluster.peekJob(NS, 'smoke')!;
    const finished = state.conditions.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    expect(finished?.type ?? (state.active > 0 ? 'active' : 'none')).toBe(end);
    if (end === 'Failed') expect(finished!.reason).toBe('BackoffLimitExceeded');
  });
});
