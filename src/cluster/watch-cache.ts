import { compareVersions, Informer } from './informer.js';
import { parseLabelSelector } from './label-selector.js';
import type { KubeHttp } from './kube-http.js';
import type { WatchKind } from './port.js';
import type { Sleep } from './retry.js';
import { selectorString, toPodState, toWorkloadState } from './to-state.js';
import type { PodState, WorkloadState } from './types.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** How long a read waits for a cache to catch up with our last write before it reads directly. */
export const CACHE_CATCH_UP_MS = 250;
/** How long a read waits for a cache opened just now to be filled (its LIST and WATCH), as client-go's WaitForCacheSync does. */
export const INITIAL_SYNC_MS = 3_000;
/** A watch that gave up (INFORMER_MAX_FAILURES in a row) is not tried again for this long: reads and waits go direct. */
export const GIVE_UP_MS = 60_000;

interface CachedPod {
  readonly state: PodState;
  readonly owners: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

const KINDS: readonly WatchKind[] = ['pods', 'deployments', 'statefulsets', 'jobs'];

interface Selector {
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
}

const enc = encodeURIComponent;
const PATHS: Record<WatchKind, (ns: string) => string> = {
  pods: (ns) => `/api/v1/namespaces/${enc(ns)}/pods`,
  jobs: (ns) => `/apis/batch/v1/namespaces/${enc(ns)}/jobs`,
  deployments: (ns) => `/apis/apps/v1/namespaces/${enc(ns)}/deployments`,
  statefulsets: (ns) => `/apis/apps/v1/namespaces/${enc(ns)}/statefulsets`,
};

const byName = (name: string) => `metadata.name=${name}`;
const nameOf = (selector: Selector) => /^metadata\.name=([^,]+)$/.exec(selector.fieldSelector ?? '')?.[1];

/**
 * The adapter's watch-fed caches (see informer.ts). A wait (waitForChange) opens one long-lived
 * watch for what it waits on and keeps it for the run, instead of a watch per wait; reads that
 * such a watch covers (the Job, the Deployment, the pods of a Job or a Deployment being waited
 * for, a followed StatefulSet and its pods) are answered from it, not asked again.
 *
 * A cache answers only when it is current: its watch is connected, and it has seen our last write
 * to what it holds (a partition patch, an image patch, a Job created or deleted, a pod deleted),
 * which it is given up to CACHE_CATCH_UP_MS to see. Otherwise the read goes to the API server.
 * One exception: before any write of ours, a first LIST just answered (FIRST_LIST_FRESH_MS) is as
 * fresh as a GET, and answers while its watch is being opened.
 *
 * For a run, watchNamespace keeps one cache per kind for the whole namespace instead (pods,
 * Deployments, StatefulSets, Jobs: four LISTs and four WATCHes for the run): every read and wait
 * of those kinds is answered from them, a selector matched here. Where one of them cannot be kept
 * (no permission to list or watch the whole namespace, or a watch that keeps failing) the
 * per-object caches above take over for that kind.
 */
export class WatchCaches {
  private readonly informers = new Map<string, Informer<Json> | Informer<CachedPod>>();
  /** Pod selector of each followed StatefulSet, by namespace/name. */
  private readonly followed = new Map<string, string>();
  /** resourceVersion of our newest write (or direct read), by what a cache must have seen (namespace/kind/name). */
  private readonly lastWrite = new Map<string, string>();
  /** When a cache gave up (its watch kept failing): it is not opened again for GIVE_UP_MS. */
  private readonly gaveUp = new Map<string, number>();
  /** The resourceVersion each cache had when a read was last answered from it. */
  private readonly readAt = new Map<string, string | undefined>();
  /** Namespaces whose every pod, Deployment, StatefulSet and Job are kept (watchNamespace). */
  private readonly whole = new Set<string>();

  constructor(
    private readonly http: KubeHttp,
    private readonly sleep: Sleep,
  ) {}

  stop(): void {
    for (const informer of this.informers.values()) informer.stop();
    this.informers.clear();
  }

  /** LIST and WATCH requests the caches made, for tests and the bench. */
  requests(): { list: number; watch: number } {
    let list = 0;
    let watch = 0;
    for (const i of this.informers.values()) {
      list += i.requests.list;
      watch += i.requests.watch;
    }
    return { list, watch };
  }

  /** From now on, one cache per kind for the whole namespace (see the class comment). */
  watchNamespace(namespace: string): void {
    this.whole.add(namespace);
    for (const kind of KINDS) this.informer(kind, namespace, {}, true);
  }

  follow(namespace: string, name: string, podSelector: string): void {
    const key = `${namespace}/${name}`;
    const before = this.followed.get(key);
    if (before !== undefined && before !== podSelector) this.informers.get(this.key('pods', namespace, { labelSelector: before }))?.stop();
    this.followed.set(key, podSelector);
    if (this.isWhole('statefulsets', namespace) && this.isWhole('pods', namespace)) return;
    this.informer('statefulsets', namespace, { fieldSelector: byName(name) }, true);
    this.informer('pods', namespace, { labelSelector: podSelector }, true);
  }

  /** Records a write of ours; `what` names the caches that must see it (namespace/kind/name). */
  wrote(what: readonly string[], resourceVersion: unknown): void {
    if (typeof resourceVersion !== 'string' || !resourceVersion) return;
    for (const key of what) {
      const old = this.lastWrite.get(key);
      if (old === undefined || compareVersions(resourceVersion, old) > 0 || !/^\d+$/.test(old)) this.lastWrite.set(key, resourceVersion);
    }
  }

  /**
   * A read that went to the API server (a cache did not answer it): a later read from a cache must
   * not answer with older news, as a watch just reconnected would until it has replayed what it
   * missed. `resourceVersions` are the objects' own (never a LIST's, which a namespace's cache
   * need not ever reach: it moves only with events of its kind there); the newest counts.
   */
  readDirectly(what: readonly string[], resourceVersions: readonly unknown[]): void {
    let newest: string | undefined;
    for (const rv of resourceVersions) if (typeof rv === 'string' && /^\d+$/.test(rv) && (newest === undefined || compareVersions(rv, newest) > 0)) newest = rv;
    this.wrote(what, newest);
  }

  /**
   * A write to a StatefulSet: its cache must see it, and its pods' cache too when the write may
   * make the controller replace pods (see podsMayChange in kube-adapter.ts). A write that cannot is
   * followed by no pod event: waiting for one cost every read of the pods CACHE_CATCH_UP_MS.
   */
  wroteStatefulSet(namespace: string, name: string, resourceVersion: unknown, podsMayChange = true): void {
    this.wrote(podsMayChange ? [`${namespace}/statefulsets/${name}`, `${namespace}/sts-pods/${name}`] : [`${namespace}/statefulsets/${name}`], resourceVersion);
  }

  /** A pod deleted: the pods of every followed (or namespace-cached) StatefulSet of the namespace must see it. */
  wrotePod(namespace: string, resourceVersion: unknown): void {
    const names = new Set([...this.followed.keys()].filter((k) => k.startsWith(`${namespace}/`)).map((k) => k.slice(namespace.length + 1)));
    const sets = this.whole.has(namespace) ? this.informers.get(this.key('statefulsets', namespace, {})) : undefined;
    for (const set of (sets as Informer<Json> | undefined)?.values() ?? []) names.add(set.metadata?.name);
    this.wrote([...names].map((name) => `${namespace}/sts-pods/${name}`), resourceVersion);
  }

  /** A Job created or deleted: the Job's cache, and a list of Jobs, must see it. */
  wroteJob(namespace: string, name: string, resourceVersion: unknown): void {
    this.wrote([`${namespace}/jobs/${name}`, `${namespace}/jobs/*`], resourceVersion);
  }

  async statefulSet(namespace: string, name: string, podName: string | undefined): Promise<WorkloadState | undefined | 'miss'> {
    const whole = this.isWhole('statefulsets', namespace) && this.isWhole('pods', namespace);
    const selector = this.followed.get(`${namespace}/${name}`);
    if (!whole && selector === undefined) return 'miss';
    const set = await this.current('statefulsets', namespace, whole ? {} : { fieldSelector: byName(name) }, `${namespace}/statefulsets/${name}`);
    // Every pod is read for a decision (the re-check before a partition move, the final check):
    // the cache must have seen our last write to the set first. One pod is read by a wait, which
    // looks again at the next event anyway: a connected watch is enough, and a controller slow to
    // act on our patch (seconds at 1000 replicas) costs no direct reads.
    const barrier = podName === undefined ? `${namespace}/sts-pods/${name}` : undefined;
    const pods = set && (await this.current('pods', namespace, whole ? {} : { labelSelector: selector }, barrier));
    if (!set || !pods) return 'miss';
    const obj = (set as Informer<Json>).get(name);
    if (!obj) return undefined;
    if (!whole && selectorString(obj.spec?.selector) !== selector) return 'miss';
    const uid = obj.metadata?.uid;
    const cache = pods as Informer<CachedPod>;
    const candidates = podName === undefined ? cache.values() : [cache.get(podName)].filter((p): p is CachedPod => p !== undefined);
    return toWorkloadState('StatefulSet', obj, candidates.filter((p) => p.owners.includes(uid)).map((p) => p.state));
  }

  /** A Deployment or a Job by name from the cache its wait opened; 'miss' when there is none that is current. */
  async object(kind: 'deployments' | 'jobs', namespace: string, name: string): Promise<Json | undefined | 'miss'> {
    const cache = await this.current(kind, namespace, this.scope(kind, namespace, { fieldSelector: byName(name) }), `${namespace}/${kind}/${name}`);
    if (!cache) return 'miss';
    return (cache as Informer<Json>).get(name);
  }

  /**
   * Pods by label selector, from a cache: a followed StatefulSet's, or one opened for the pods of
   * a Job or a Deployment that a wait is watching (the loop reads them again at every change).
   */
  async pods(namespace: string, labelSelector: string): Promise<readonly PodState[] | 'miss'> {
    if (this.isWhole('pods', namespace)) {
      const match = parseLabelSelector(labelSelector);
      const cache = match && (await this.current('pods', namespace, {}, undefined));
      if (!match || !cache) return 'miss';
      return (cache as Informer<CachedPod>).values().filter((p) => match(p.labels)).map((p) => p.state);
    }
    const jobName = /^job-name=([^,]+)$/.exec(labelSelector)?.[1];
    const waitedOn =
      (jobName !== undefined && this.has('jobs', namespace, { fieldSelector: byName(jobName) })) ||
      [...this.informers.entries()].some(([key, i]) => key.startsWith(`deployments|${namespace}|`) && i.state !== 'stopped' && (i as Informer<Json>).values().some((d) => selectorString(d.spec?.selector) === labelSelector));
    if (!this.has('pods', namespace, { labelSelector }) && !waitedOn) return 'miss';
    this.informer('pods', namespace, { labelSelector }, true);
    const cache = await this.current('pods', namespace, { labelSelector }, undefined);
    if (!cache) return 'miss';
    return (cache as Informer<CachedPod>).values().map((p) => p.state);
  }

  /** Jobs by label selector, from the namespace's cache once it has seen our last Job created or deleted. */
  async jobs(namespace: string, labelSelector: string): Promise<readonly Json[] | 'miss'> {
    const match = this.isWhole('jobs', namespace) ? parseLabelSelector(labelSelector) : undefined;
    const cache = match && (await this.current('jobs', namespace, {}, `${namespace}/jobs/*`));
    if (!match || !cache) return 'miss';
    return (cache as Informer<Json>).values().filter((j) => match(j.metadata?.labels ?? {}));
  }

  /** Every Deployment and StatefulSet of the namespace, from its caches; 'miss' unless both are kept. */
  async workloads(namespace: string): Promise<{ deployments: readonly Json[]; statefulSets: readonly Json[] } | 'miss'> {
    if (!this.isWhole('deployments', namespace) || !this.isWhole('statefulsets', namespace)) return 'miss';
    const [deployments, statefulSets] = await Promise.all([this.current('deployments', namespace, {}, undefined), this.current('statefulsets', namespace, {}, undefined)]);
    if (!deployments || !statefulSets) return 'miss';
    return { deployments: (deployments as Informer<Json>).values(), statefulSets: (statefulSets as Informer<Json>).values() };
  }

  /**
   * Waits for a change of what the selector names on a long-lived watch (opened now if there is
   * none): no request per wait. A wait after a read the cache did not answer, or after events the
   * caller has not read, ends at once (the caller reads again, from the cache when it is current).
   * False when no watch can be kept (one that kept failing): the caller waits its own way.
   */
  async wait(namespace: string, kind: WatchKind, selector: Selector, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    // A wait on one pod of a followed StatefulSet is a wait on its pods' cache, for that name.
    const followedPods = kind === 'pods' && selector.labelSelector !== undefined && [...this.followed.values()].includes(selector.labelSelector);
    const watched: Selector = this.scope(kind, namespace, followedPods ? { labelSelector: selector.labelSelector } : selector);
    const key = this.key(kind, namespace, watched);
    const informer = this.informer(kind, namespace, watched, true);
    if (!informer) return false;
    // The caller has not seen what the cache holds now (its last read went to the API server, or
    // came before the latest events): it looks again at once. Waiting for the next event instead
    // would lose one that arrived between its read and this wait.
    if (this.readAt.get(key) !== informer.resourceVersion) {
      this.readAt.set(key, informer.resourceVersion);
      return true;
    }
    await informer.changed(timeoutMs, this.interest(selector, watched), signal);
    return true;
  }

  /** What a wait wakes for: its object by name, or (on a namespace's cache) the objects its label selector matches. */
  private interest(selector: Selector, watched: Selector): string | ((name: string, obj: Json | CachedPod) => boolean) | undefined {
    const name = nameOf(selector);
    if (name !== undefined || watched.labelSelector !== undefined || selector.labelSelector === undefined) return name;
    const match = parseLabelSelector(selector.labelSelector);
    return match && ((_name, obj) => match(('state' in obj ? obj.labels : obj.metadata?.labels) ?? {}));
  }

  /** Whether the namespace's own cache of `kind` is kept (watchNamespace) and alive: a wait on all of that kind costs no request. */
  keepsWhole(kind: WatchKind, namespace: string): boolean {
    return this.isWhole(kind, namespace);
  }

  /** The namespace's own cache of `kind` is kept and alive (opened again once a give-up has passed). */
  private isWhole(kind: WatchKind, namespace: string): boolean {
    return this.whole.has(namespace) && this.informer(kind, namespace, {}, true) !== undefined;
  }

  /** The selector whose cache answers for `selector`: the whole namespace's, while it is kept. */
  private scope(kind: WatchKind, namespace: string, selector: Selector): Selector {
    return this.isWhole(kind, namespace) ? {} : selector;
  }

  private has(kind: WatchKind, namespace: string, selector: Selector): boolean {
    const i = this.informers.get(this.key(kind, namespace, selector));
    return i !== undefined && i.state !== 'stopped';
  }

  private key(kind: WatchKind, namespace: string, selector: Selector): string {
    return `${kind}|${namespace}|${selector.labelSelector ?? ''}|${selector.fieldSelector ?? ''}`;
  }

  /** The cache for exactly this selector once it is current (see the class comment), else undefined. */
  private async current(kind: WatchKind, namespace: string, selector: Selector, written: string | undefined) {
    const key = this.key(kind, namespace, selector);
    const informer = this.informers.get(key);
    if (!informer || informer.state === 'stopped') return undefined;
    if (!(await informer.waitCurrent(written === undefined ? undefined : this.lastWrite.get(written), informer.synced ? CACHE_CATCH_UP_MS : INITIAL_SYNC_MS))) return undefined;
    this.readAt.set(key, informer.resourceVersion);
    return informer;
  }

  private informer(kind: WatchKind, namespace: string, selector: Selector, start: boolean): Informer<Json> | Informer<CachedPod> | undefined {
    const key = this.key(kind, namespace, selector);
    const existing = this.informers.get(key);
    if (existing && existing.state !== 'stopped') return existing;
    if (existing) {
      this.informers.delete(key);
      this.gaveUp.set(key, Date.now());
    }
    if (!start || Date.now() - (this.gaveUp.get(key) ?? -Infinity) < GIVE_UP_MS) return undefined;
    this.readAt.delete(key);
    const options = {
      path: PATHS[kind](namespace),
      labelSelector: selector.labelSelector,
      fieldSelector: selector.fieldSelector,
      what: `${kind} in ${namespace}${selector.labelSelector ? ` (${selector.labelSelector})` : ''}${selector.fieldSelector ? ` (${selector.fieldSelector})` : ''}`,
      sleep: this.sleep,
    };
    const informer =
      kind === 'pods'
        ? new Informer<CachedPod>(this.http, { ...options, convert: (obj) => ({ state: toPodState(obj), owners: (obj.metadata?.ownerReferences ?? []).map((o: Json) => o.uid), labels: obj.metadata?.labels ?? {} }) })
        : new Informer<Json>(this.http, { ...options, convert: (obj) => ({ ...obj, metadata: { namespace, ...obj.metadata } }) });
    this.informers.set(key, informer);
    return informer;
  }
}
