import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { behaviourOf, MARKERS } from './fakes/markers.js';
import { MemoryCluster } from './fakes/memory-cluster.js';

/**
 * One simulator vocabulary: the in-memory fake and the Go simulator of the e2e control plane read
 * the same markers, in the same order, in the same place (the image tag), with the same effect.
 */
const SIM_GO = readFileSync('test/cluster/cmd/launcher/sim.go', 'utf8');

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
