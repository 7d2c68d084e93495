import type http from 'node:http';
import { isClusterError } from './cluster-error.js';
import { WatchCaches } from './watch-cache.js';
import { decodeReleaseSecret, HELM_RELEASE_SELECTOR, newestRelease, type HelmReleaseRead } from './helm-release.js';
import { loadKubeConfig } from './kube-config.js';
import { KubeHttp, type RequestLog } from './kube-http.js';
import type { AccessCheck, ClusterPort, ClusterTarget, ConfigMapState, JobState, LeaseSpec, LeaseState, PodHttpSend, WatchKind, WatchSpec, WorkloadPatch, WriteOptions } from './port.js';
import { DEFAULT_OUTAGE_MS, DEFAULT_RETRY, sleep, type Sleep } from './retry.js';
import { selectorString, toConfigMapState, toJobState, toLeaseState, toPodState, toWorkloadState } from './to-state.js';
import type { JobManifest, PodState, WorkloadRef, WorkloadState } from './types.js';
import { compareText } from '../compare.js';
import { ANNOTATION_PARTITION } from '../labels.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const WORKLOAD_PATH = { Deployment: 'deployments', StatefulSet: 'statefulsets' } as const;
const enc = encodeURIComponent;

export interface ConnectOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly requestTimeoutMs?: number | undefined;
  /** How long to keep retrying through an API server outage (default DEFAULT_OUTAGE_MS). */
  readonly outageMs?: number | undefined;
  readonly log?: RequestLog;
  readonly offlineFlag?: boolean | undefined;
  /** Waits between retries and polls; tests pass one that records instead of waiting. */
  readonly sleep?: Sleep | undefined;
}

export function connectKube(options: ConnectOptions): KubeCluster {
  const { kc } = loadKubeConfig(options);
  const context = kc.getContextObject(kc.getCurrentContext())!;
  const wait = options.sleep ?? sleep;
  const httpClient = new KubeHttp(kc, {
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    retry: { ...DEFAULT_RETRY, outageMs: options.outageMs ?? DEFAULT_OUTAGE_MS },
    sleep: wait,
    ...(options.log ? { log: options.log } : {}),
  });
  return new KubeCluster(
    httpClient,
    {
      context: context.name,
      server: httpClient.server,
      namespace: context.namespace ?? 'default',
      user: context.user,
    },
    wait,
  );
}

/** ClusterPort over the Kubernetes REST API. */
export class KubeCluster implements ClusterPort {
  /** The newest resourceVersion read per kind and namespace: watches start there and miss nothing. */
  private readonly lastSeen = new Map<string, string>();
  /** Long-lived watches and what they answer (watch-cache.ts). */
  private readonly caches: WatchCaches;

  constructor(
    private readonly http: KubeHttp,
    readonly target: ClusterTarget,
    private readonly sleep: Sleep = sleep,
  ) {
    this.caches = new WatchCaches(http, sleep);
  }

  close(): void {
    this.caches.stop();
    this.http.close();
  }

  follow(namespace: string, ref: WorkloadRef, podSelector: string): void {
    if (ref.kind === 'StatefulSet') this.caches.follow(namespace, ref.name, podSelector);
  }

  watchNamespace(namespace: string): void {
    this.caches.watchNamespace(namespace);
  }

  /** LIST and WATCH requests made by the long-lived watches, for tests and the bench. */
  watchRequests(): { list: number; watch: number } {
    return this.caches.requests();
  }

  async getWorkload(namespace: string, ref: WorkloadRef, options: { podName?: string } = {}): Promise<WorkloadState | undefined> {
    if (ref.kind === 'StatefulSet') {
      const cached = await this.caches.statefulSet(namespace, ref.name, options.podName);
      if (cached !== 'miss') return cached;
    } else {
      const cached = await this.caches.object('deployments', namespace, ref.name);
      if (cached !== 'miss') return cached && toWorkloadState('Deployment', cached, []);
    }
    const plural = WORKLOAD_PATH[ref.kind];
    const obj = await this.getOrUndefined<Json>(`/apis/apps/v1/namespaces/${enc(namespace)}/${plural}/${enc(ref.name)}`, `${plural}.apps ${namespace}/${ref.name}`);
    if (!obj) return undefined;
    this.seen(plural, namespace, obj.metadata?.resourceVersion);
    this.caches.readDirectly([`${namespace}/${plural}/${ref.name}`], [obj.metadata?.resourceVersion]);
    let pods: PodState[] = [];
    if (ref.kind === 'StatefulSet') {
      const list = await this.listPodObjects(namespace, selectorString(obj.spec?.selector), options.podName === undefined ? undefined : `metadata.name=${options.podName}`);
      const uid = obj.metadata?.uid;
      const owned = list.filter((p) => (p.metadata?.ownerReferences ?? []).some((o: Json) => o.uid === uid));
      this.caches.readDirectly([`${namespace}/sts-pods/${ref.name}`], owned.map((p) => p.metadata?.resourceVersion));
      pods = owned.map(toPodState);
    }
    return toWorkloadState(ref.kind, obj, pods);
  }

  async listWorkloads(namespace: string): Promise<readonly WorkloadState[] | 'forbidden'> {
    const cached = await this.caches.workloads(namespace);
    if (cached !== 'miss') {
      return [...cached.deployments.map((obj) => toWorkloadState('Deployment', obj, [])), ...cached.statefulSets.map((obj) => toWorkloadState('StatefulSet', obj, []))];
    }
    try {
      const lists = await Promise.all(
        (['Deployment', 'StatefulSet'] as const).map(async (kind) => {
          const plural = WORKLOAD_PATH[kind];
          const list = await this.http.call<Json>('GET', `/apis/apps/v1/namespaces/${enc(namespace)}/${plural}`, { what: `${plural}.apps in ${namespace}` });
          return ((list.items ?? []) as Json[]).map((obj) => toWorkloadState(kind, { ...obj, metadata: { namespace, ...obj.metadata } }, []));
        }),
      );
      return lists.flat();
    } catch (error) {
      if (isClusterError(error, 'forbidden')) return 'forbidden';
      throw error;
    }
  }

  async patchWorkload(namespace: string, ref: WorkloadRef, patch: WorkloadPatch, options: WriteOptions = {}): Promise<void> {
    const plural = WORKLOAD_PATH[ref.kind];
    const spec: Json = {};
    if (patch.image) spec.template = { spec: { containers: [{ name: patch.image.container, image: patch.image.image }] } };
    if (patch.partition !== undefined) spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: patch.partition } };
    // A null annotation value removes the annotation; any other annotation is left as it is.
    const metadata = patch.userPartition === undefined ? undefined : { annotations: { [ANNOTATION_PARTITION]: patch.userPartition === null ? null : String(patch.userPartition) } };
    // Strategic merge: containers merge by name, so only the one container's image changes.
    const obj = await this.http.call<Json>('PATCH', `/apis/apps/v1/namespaces/${enc(namespace)}/${plural}/${enc(ref.name)}`, {
      body: metadata ? { metadata, spec } : { spec },
      patch: 'strategic',
      what: `${plural}.apps ${namespace}/${ref.name}`,
      dryRun: options.dryRun,
    });
    if (options.dryRun) return;
    this.seen(plural, namespace, obj?.metadata?.resourceVersion);
    if (ref.kind === 'StatefulSet') this.caches.wroteStatefulSet(namespace, ref.name, obj?.metadata?.resourceVersion, podsMayChange(obj));
    else this.caches.wrote([`${namespace}/deployments/${ref.name}`], obj?.metadata?.resourceVersion);
  }

  async listPods(namespace: string, labelSelector: string): Promise<readonly PodState[]> {
    const cached = await this.caches.pods(namespace, labelSelector);
    if (cached !== 'miss') return cached;
    return (await this.listPodObjects(namespace, labelSelector)).map(toPodState);
  }

  async deletePod(namespace: string, name: string, options: WriteOptions = {}): Promise<void> {
    const obj = await this.deleteOrIgnore<Json>(`/api/v1/namespaces/${enc(namespace)}/pods/${enc(name)}`, `pod ${namespace}/${name}`, options);
    if (!options.dryRun) this.caches.wrotePod(namespace, obj?.metadata?.resourceVersion);
  }

  async getJob(namespace: string, name: string): Promise<JobState | undefined> {
    const cached = await this.caches.object('jobs', namespace, name);
    if (cached !== 'miss') return cached && toJobState(cached);
    const obj = await this.getOrUndefined<Json>(`/apis/batch/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}`, `jobs.batch ${namespace}/${name}`);
    if (!obj) return undefined;
    this.seen('jobs', namespace, obj.metadata?.resourceVersion);
    this.caches.readDirectly([`${namespace}/jobs/${name}`], [obj.metadata?.resourceVersion]);
    return toJobState(obj);
  }

  async listJobs(namespace: string, labelSelector: string): Promise<readonly JobState[]> {
    const cached = await this.caches.jobs(namespace, labelSelector);
    if (cached !== 'miss') return cached.map(toJobState);
    const list = await this.http.call<Json>('GET', `/apis/batch/v1/namespaces/${enc(namespace)}/jobs`, { query: { labelSelector: labelSelector || undefined }, what: `jobs in ${namespace}` });
    this.seen('jobs', namespace, list.metadata?.resourceVersion);
    this.caches.readDirectly([`${namespace}/jobs/*`], (list.items ?? []).map((j: Json) => j.metadata?.resourceVersion));
    return (list.items ?? []).map(toJobState);
  }

  async createJob(namespace: string, manifest: JobManifest, options: WriteOptions = {}): Promise<JobState> {
    const obj = await this.http.call<Json>('POST', `/apis/batch/v1/namespaces/${enc(namespace)}/jobs`, {
      body: manifest,
      what: `jobs.batch ${namespace}/${manifest.metadata.name}`,
      dryRun: options.dryRun,
    });
    if (!options.dryRun) this.seen('jobs', namespace, obj.metadata?.resourceVersion);
    if (!options.dryRun) this.caches.wroteJob(namespace, manifest.metadata.name, obj.metadata?.resourceVersion);
    return toJobState(obj);
  }

  async deleteJob(namespace: string, name: string, options: WriteOptions = {}): Promise<void> {
    const obj = await this.deleteOrIgnore<Json>(`/apis/batch/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}`, `jobs.batch ${namespace}/${name}`, options, { propagationPolicy: 'Background' });
    if (!options.dryRun) this.caches.wroteJob(namespace, name, obj?.metadata?.resourceVersion);
  }

  async listJobPods(namespace: string, jobName: string): Promise<readonly PodState[]> {
    return this.listPods(namespace, `job-name=${jobName}`);
  }

  async jobLogTail(namespace: string, jobName: string, lines: number): Promise<string | undefined> {
    try {
      const pods = await this.listPodObjects(namespace, `job-name=${jobName}`);
      if (pods.length === 0) return undefined;
      const newest = [...pods].sort((a, b) => compareText(String(b.metadata?.creationTimestamp), String(a.metadata?.creationTimestamp)));
      const pod = newest.find((p) => p.status?.phase === 'Failed') ?? newest[0]!;
      const text = await this.http.call<unknown>('GET', `/api/v1/namespaces/${enc(namespace)}/pods/${enc(pod.metadata.name)}/log`, {
        query: { tailLines: lines },
        what: `log of pod ${namespace}/${pod.metadata.name}`,
        noRetry: true,
        timeoutMs: 10_000,
      });
      return typeof text === 'string' ? text : typeof (text as Json)?.message === 'string' ? (text as Json).message : undefined;
    } catch (error) {
      // Logs are a courtesy in an error message: without a kubelet (or permission) there are none.
      if (isClusterError(error)) return undefined;
      throw error;
    }
  }

  async getConfigMap(namespace: string, name: string): Promise<ConfigMapState | undefined> {
    const obj = await this.getOrUndefined<Json>(`/api/v1/namespaces/${enc(namespace)}/configmaps/${enc(name)}`, `configmap ${namespace}/${name}`);
    return obj ? toConfigMapState(obj) : undefined;
  }

  async writeConfigMap(
    namespace: string,
    name: string,
    content: { data: Record<string, string>; labels: Record<string, string> },
    resourceVersion: string | undefined,
    options: WriteOptions = {},
  ): Promise<ConfigMapState> {
    const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels: content.labels, ...(resourceVersion ? { resourceVersion } : {}) }, data: content.data };
    return toConfigMapState(await this.createOrReplace(`/api/v1/namespaces/${enc(namespace)}/configmaps`, name, body, `configmap ${namespace}/${name}`, resourceVersion, options));
  }


  async getLease(namespace: string, name: string): Promise<LeaseState | undefined> {
    const obj = await this.getOrUndefined<Json>(`/apis/coordination.k8s.io/v1/namespaces/${enc(namespace)}/leases/${enc(name)}`, `lease ${namespace}/${name}`);
    return obj ? toLeaseState(obj) : undefined;
  }

  async writeLease(namespace: string, name: string, lease: LeaseSpec, resourceVersion: string | undefined, options: WriteOptions = {}): Promise<LeaseState> {
    const body = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace, labels: lease.labels, annotations: lease.annotations, ...(resourceVersion ? { resourceVersion } : {}) },
      spec: {
        holderIdentity: lease.holderIdentity,
        leaseDurationSeconds: lease.leaseDurationSeconds,
        acquireTime: microTime(lease.acquireTime),
        renewTime: microTime(lease.renewTime),
      },
    };
    return toLeaseState(await this.createOrReplace(`/apis/coordination.k8s.io/v1/namespaces/${enc(namespace)}/leases`, name, body, `lease ${namespace}/${name}`, resourceVersion, options));
  }

  /** Replaces the object at `resourceVersion` (PUT), or creates it (POST) when there is none yet. */
  private createOrReplace(collection: string, name: string, body: Json, what: string, resourceVersion: string | undefined, options: WriteOptions): Promise<Json> {
    return resourceVersion
      ? this.http.call<Json>('PUT', `${collection}/${enc(name)}`, { body, what, dryRun: options.dryRun })
      : this.http.call<Json>('POST', collection, { body, what, dryRun: options.dryRun });
  }

  async deleteLease(namespace: string, name: string, resourceVersion: string | undefined, options: WriteOptions = {}): Promise<void> {
    const body = resourceVersion ? { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion } } : undefined;
    await this.deleteOrIgnore(`/apis/coordination.k8s.io/v1/namespaces/${enc(namespace)}/leases/${enc(name)}`, `lease ${namespace}/${name}`, options, {}, body);
  }

  async readHelmRelease(namespace: string, release: string): Promise<HelmReleaseRead> {
    const path = `/api/v1/namespaces/${enc(namespace)}/secrets`;
    const what = `secrets in ${namespace} (Helm release ${release})`;
    try {
      // The deployed revision alone first: each revision carries the whole chart.
      let list = await this.http.call<Json>('GET', path, { query: { labelSelector: `${HELM_RELEASE_SELECTOR(release)},status=deployed` }, what });
      if ((list.items ?? []).length === 0) list = await this.http.call<Json>('GET', path, { query: { labelSelector: HELM_RELEASE_SELECTOR(release) }, what });
      const secret = newestRelease(list.items ?? []);
      if (!secret) return { outcome: 'not-found', detail: `no Secret labelled ${HELM_RELEASE_SELECTOR(release)} in namespace ${namespace} (a Helm storage driver other than Secrets?)` };
      try {
        return { outcome: 'read', release: decodeReleaseSecret(secret) };
      } catch (error) {
        return { outcome: 'unreadable', detail: (error as Error).message };
      }
    } catch (error) {
      if (isClusterError(error, 'forbidden')) return { outcome: 'forbidden', detail: `not allowed to list secrets in namespace ${namespace}` };
      throw error;
    }
  }

  podHttp<T>(namespace: string, pod: string, port: number, exchange: (send: PodHttpSend) => Promise<T>): Promise<T> {
    return this.http.podHttp(namespace, pod, port, exchange);
  }

  /**
   * One SelfSubjectRulesReview answers most checks at once; a check its rules do not allow (the
   * review may be incomplete: webhook authorizers, or rules it cannot list) is asked again with a
   * SelfSubjectAccessReview of its own, so a rules review never denies anything by itself.
   */
  async deniedAccess(namespace: string, checks: readonly AccessCheck[]): Promise<readonly AccessCheck[]> {
    let rules: readonly ResourceRule[] = [];
    try {
      const review = await this.http.call<Json>('POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', {
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace } },
        what: `rules review in ${namespace}`,
      });
      rules = (review.status?.resourceRules ?? []) as ResourceRule[];
    } catch (error) {
      // Not served or not allowed: every check gets its own access review, as before.
      if (!isClusterError(error) || error.retryable) throw error;
    }
    const results = await Promise.all(
      checks.map(async (check) => {
        if (rulesAllow(rules, check)) return undefined;
        const review = await this.http.call<Json>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: { resourceAttributes: { namespace, verb: check.verb, group: check.group, resource: check.resource, subresource: check.subresource, name: check.name } },
          },
          what: `access review for ${check.verb} ${check.resource}`,
        });
        return review.status?.allowed === true ? undefined : check;
      }),
    );
    return results.filter((c): c is AccessCheck => c !== undefined);
  }

  async waitForAnyChange(namespace: string, watches: readonly WatchSpec[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (timeoutMs <= 0 || signal?.aborted) return;
    if (watches.length <= 1) return watches[0] && this.waitForChange(namespace, watches[0].kind, watches[0], timeoutMs, signal);
    const controller = new AbortController();
    const stop = () => controller.abort();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await Promise.race(watches.map((w) => this.waitForChange(namespace, w.kind, w, timeoutMs, controller.signal)));
    } finally {
      signal?.removeEventListener('abort', stop);
      controller.abort();
    }
  }

  async waitForChange(namespace: string, kind: WatchKind, selector: { labelSelector?: string; fieldSelector?: string }, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (timeoutMs <= 0 || signal?.aborted) return;
    // A wait on every pod of a namespace opens no cache of its own (it would hold every pod); the
    // namespace's, when the run keeps one, answers it.
    const cached = kind !== 'pods' || selector.labelSelector || selector.fieldSelector || this.caches.keepsWhole('pods', namespace);
    if (cached && (await this.caches.wait(namespace, kind, selector, timeoutMs, signal))) return;
    const since = this.lastSeen.get(`${kind}/${namespace}`);
    if (!since) return this.sleep(Math.min(timeoutMs, 1_000), signal);
    const controller = new AbortController();
    const stop = () => controller.abort();
    signal?.addEventListener('abort', stop, { once: true });
    const timer = setTimeout(stop, timeoutMs);
    try {
      const group = kind === 'pods' ? '/api/v1' : kind === 'jobs' ? '/apis/batch/v1' : '/apis/apps/v1';
      const response = await this.http.stream(`${group}/namespaces/${enc(namespace)}/${kind}`, {
        query: {
          watch: 1,
          resourceVersion: since,
          timeoutSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)),
          labelSelector: selector.labelSelector,
          fieldSelector: selector.fieldSelector,
        },
        what: `watch of ${kind} in ${namespace}`,
        signal: controller.signal,
        noRetry: true,
      });
      await firstLine(response, controller.signal);
    } catch {
      // A broken watch is not an error: poll a little later instead.
      if (!controller.signal.aborted) await this.sleep(Math.min(timeoutMs, 500), controller.signal);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stop);
      controller.abort();
    }
  }

  private async listPodObjects(namespace: string, labelSelector: string, fieldSelector?: string): Promise<Json[]> {
    // Not older than what this run already saw: served from the API server's watch cache at once,
    // where a plain (consistent) LIST right after a write waits ~90 ms for the cache to catch up.
    // Never staler than our last look, and the watch that follows wakes us for anything newer.
    const since = this.lastSeen.get(`pods/${namespace}`);
    const list = await this.http.call<Json>('GET', `/api/v1/namespaces/${enc(namespace)}/pods`, {
      query: { labelSelector: labelSelector || undefined, fieldSelector, ...(since ? { resourceVersion: since, resourceVersionMatch: 'NotOlderThan' } : {}) },
      what: `pods in ${namespace}`,
    });
    this.seen('pods', namespace, list.metadata?.resourceVersion);
    return list.items ?? [];
  }

  private seen(kind: string, namespace: string, resourceVersion: string | undefined): void {
    if (resourceVersion) this.lastSeen.set(`${kind}/${namespace}`, resourceVersion);
  }

  private async getOrUndefined<T>(path: string, what: string): Promise<T | undefined> {
    try {
      return await this.http.call<T>('GET', path, { what });
    } catch (error) {
      if (isClusterError(error, 'not-found')) return undefined;
      throw error;
    }
  }

  private async deleteOrIgnore<T = unknown>(path: string, what: string, options: WriteOptions, query: Record<string, string> = {}, body?: unknown): Promise<T | undefined> {
    try {
      return await this.http.call<T>('DELETE', path, { what, dryRun: options.dryRun, query, ...(body ? { body } : {}) });
    } catch (error) {
      if (isClusterError(error, 'not-found')) return undefined;
      throw error;
    }
  }
}

interface ResourceRule {
  readonly verbs?: readonly string[];
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly resourceNames?: readonly string[];
}

/** Whether RBAC-style rules (a SelfSubjectRulesReview's) allow the check, with RBAC's wildcards. */
export function rulesAllow(rules: readonly ResourceRule[], check: AccessCheck): boolean {
  const resource = check.subresource ? `${check.resource}/${check.subresource}` : check.resource;
  return rules.some((rule) => {
    const verbs = rule.verbs ?? [];
    const groups = rule.apiGroups ?? [];
    const resources = rule.resources ?? [];
    const names = rule.resourceNames ?? [];
    if (!verbs.includes(check.verb) && !verbs.includes('*')) return false;
    if (!groups.includes(check.group) && !groups.includes('*')) return false;
    const resourceOk =
      resources.includes('*') ||
      resources.includes(resource) ||
      (check.subresource !== undefined && (resources.includes(`${check.resource}/*`) || resources.includes(`*/${check.subresource}`)));
    if (!resourceOk) return false;
    return names.length === 0 || (check.name !== undefined && names.includes(check.name));
  });
}

/** Lease times are MicroTime: RFC 3339 with microseconds. */
function microTime(iso: string): string {
  return iso.replace(/\.(\d{3})Z$/, '.$1000Z');
}

function firstLine(response: http.IncomingMessage, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.destroy();
      resolve();
    };
    response.on('data', (chunk: Buffer) => {
      if (chunk.includes(10)) done();
    });
    response.on('end', done);
    response.on('error', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Whether the StatefulSet as a write left it may make its controller replace pods: not when every
 * pod is held (a partition at or above the replicas, as statefulset-prepare sets it) or pods are
 * replaced only when deleted (OnDelete). Then no read of its pods has to wait for a pod event.
 */
function podsMayChange(set: Json | undefined): boolean {
  const strategy = set?.spec?.updateStrategy;
  if (strategy?.type === 'OnDelete') return false;
  const partition = strategy?.rollingUpdate?.partition;
  return !(typeof partition === 'number' && partition >= (set?.spec?.replicas ?? 1));
}
