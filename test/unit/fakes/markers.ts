/**
 * The simulator vocabulary: how a container misbehaves when its image TAG carries a marker. One
 * table for both simulators, the in-memory fake (memory-cluster.ts, its kubelet in pods.ts and Job
 * controller in jobs.ts) and the Go simulator of the e2e control plane
 * (test/cluster/cmd/launcher/sim.go: `markers`, the behavior* constants and simulateContainer);
 * test/unit/markers.test.ts fails when the two disagree, or when the table in
 * test/cluster/README.md ("Misbehaviour on demand") says otherwise.
 *
 * Where: in the tag only (`registry/badimage/x:1` is a well-behaved image), lower-cased, as
 * sim.go's imageTag reads it; in the order of this table, the first marker the tag contains wins.
 *
 * What: a container that cannot start (`cannotStart`) waits in that reason and never runs: its pod
 * is never Ready, and a Job pod never finishes. One that exits non-zero (`exitsNonZero`) is
 * restarted when long-running, so its pod crash-loops (CrashLoopBackOff, restartCount rising,
 * never Ready); a Job pod (restartPolicy Never) runs, then fails, and the Job ends Failed
 * (BackoffLimitExceeded). `fail` does to both what `crashloop` does, as in sim.go, whose `failing`
 * treats crashloop, oomkill and fail alike. One that is `neverReady` runs and its readiness never
 * passes; a Job pod of it runs and succeeds.
 */
export const MARKERS = [
  { marker: 'crashloop', behaviour: 'crashloop' },
  /** As crashloop; the Go simulator also shows the last termination OOMKilled (exit 137). */
  { marker: 'oomkill', behaviour: 'oomkill' },
  { marker: 'badimage', behaviour: 'badimage' },
  /** The same as badimage. */
  { marker: 'imagepull', behaviour: 'badimage' },
  { marker: 'configerror', behaviour: 'configerror' },
  { marker: 'notready', behaviour: 'notready' },
  { marker: 'fail', behaviour: 'fail' },
] as const;

export type Behaviour = (typeof MARKERS)[number]['behaviour'];

export type CannotStart = 'ImagePullBackOff' | 'CreateContainerConfigError';

export interface Effect {
  /** The reason a container that never starts waits in (the Go simulator shows ErrImagePull first, then ImagePullBackOff). */
  readonly cannotStart?: CannotStart;
  /** It runs and exits non-zero: a long-running pod crash-loops, a Job pod fails. */
  readonly exitsNonZero?: true;
  /** It runs and its readiness never passes. */
  readonly neverReady?: true;
}

export const EFFECTS: Readonly<Record<Behaviour, Effect>> = {
  crashloop: { exitsNonZero: true },
  oomkill: { exitsNonZero: true },
  badimage: { cannotStart: 'ImagePullBackOff' },
  configerror: { cannotStart: 'CreateContainerConfigError' },
  notready: { neverReady: true },
  fail: { exitsNonZero: true },
};

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

export interface PodTrouble {
  /** What the pod waits in: a container that cannot start, else (long-running pods) a crash loop. */
  readonly waiting: CannotStart | 'CrashLoopBackOff' | undefined;
  readonly neverReady: boolean;
  /** A Job pod of these containers fails once it has run. */
  readonly fails: boolean;
  readonly healthy: boolean;
}

/**
 * A pod's trouble from the behaviours of its containers: the first in table order that cannot
 * start decides what it waits in; else any that exits non-zero makes a long-running pod crash-loop
 * and a Job pod fail.
 */
export function podTrouble(behaviours: readonly (Behaviour | undefined)[], jobPod: boolean): PodTrouble {
  const effects = MARKERS.filter((m) => behaviours.includes(m.behaviour)).map((m) => EFFECTS[m.behaviour]);
  const cannotStart = effects.find((e) => e.cannotStart)?.cannotStart;
  const exitsNonZero = effects.some((e) => e.exitsNonZero);
  const neverReady = effects.some((e) => e.neverReady);
  const waiting = cannotStart ?? (exitsNonZero && !jobPod ? 'CrashLoopBackOff' : undefined);
  return { waiting, neverReady, fails: exitsNonZero, healthy: waiting === undefined && !neverReady && !exitsNonZero };
}
