/**
 * The simulator vocabulary: how a container misbehaves when its image TAG carries a marker. One
 * table for both simulators, the in-memory fake (memory-cluster.ts) and the Go simulator of the
 * e2e control plane (test/cluster/cmd/launcher/sim.go, `markers` and the behavior* constants);
 * test/unit/markers.test.ts fails when the two disagree. Documented in test/cluster/README.md.
 *
 * Markers are looked for in the tag only (`registry/badimage/x:1` is a well-behaved image), in
 * the order of this table; the first that the tag contains wins.
 */
export const MARKERS = [
  /** Crash-loops: CrashLoopBackOff, restartCount rising, never Ready; a Job pod fails. */
  { marker: 'crashloop', behaviour: 'crashloop' },
  /** As crashloop, the last termination OOMKilled (exit 137). */
  { marker: 'oomkill', behaviour: 'oomkill' },
  /** The image cannot be pulled: ErrImagePull, then ImagePullBackOff; never starts. */
  { marker: 'badimage', behaviour: 'badimage' },
  /** The same as badimage. */
  { marker: 'imagepull', behaviour: 'badimage' },
  /** CreateContainerConfigError; never starts. */
  { marker: 'configerror', behaviour: 'configerror' },
  /** Runs, and its readiness never passes. */
  { marker: 'notready', behaviour: 'notready' },
  /** Exits non-zero: a Job pod fails (BackoffLimitExceeded in the end); any other pod crash-loops. */
  { marker: 'fail', behaviour: 'fail' },
] as const;

export type Behaviour = (typeof MARKERS)[number]['behaviour'];

/** The behaviour an image's tag asks for; undefined for a well-behaved image. */
export function behaviourOf(image: string): Behaviour | undefined {
  const tag = tagOf(image);
  if (tag === undefined) return undefined;
  return MARKERS.find((m) => tag.includes(m.marker))?.behaviour;
}

/** The tag of `registry:5000/path/name:tag@sha256:…`, as the Go simulator's imageTag reads it. */
function tagOf(image: string): string | undefined {
  const name = image.split('@')[0]!.split('/').at(-1)!;
  const colon = name.lastIndexOf(':');
  return colon < 0 ? undefined : name.slice(colon + 1).toLowerCase();
}

/** What the kubelet shows for a container of this behaviour (running pods). */
export function waitingReasonOf(behaviour: Behaviour | undefined): 'ImagePullBackOff' | 'CreateContainerConfigError' | 'CrashLoopBackOff' | undefined {
  switch (behaviour) {
    case 'badimage':
      return 'ImagePullBackOff';
    case 'configerror':
      return 'CreateContainerConfigError';
    case 'crashloop':
    case 'oomkill':
    case 'fail':
      return 'CrashLoopBackOff';
    default:
      return undefined;
  }
}
