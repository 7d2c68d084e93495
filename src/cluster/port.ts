import type { HelmReleaseRead } from './helm-release.js';
import type { JobManifest, PodState, WorkloadRef, WorkloadState } from './types.js';

/** Where the tool acts; printed in the header of every live command. */
export interface ClusterTarget {
  readonly context: string;
  readonly server: string;
  readonly namespace: string;
  readonly user: string;
}

export interface ConfigMapState {
  readonly name: string;
  readonly resourceVersion: string;
  readonly data: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
}

export interface LeaseState {
  readonly name: string;
  readonly resourceVersion: string;
  readonly holderIdentity: string | undefined;
  readonly leaseDurationSeconds: number | undefined;
  readonly acquireTime: string | undefined;
  readonly renewTime: string | undefined;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface LeaseSpec {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: string;
  readonly renewTime: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
}

export interface JobCondition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string | undefined;
  readonly message?: string | undefined;
}

export interface JobState {
  readonly name: string;
  readonly uid: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly active: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly conditions: readonly JobCondition[];
  readonly deleting: boolean;
  /** metadata.creationTimestamp (RFC 3339), when known. */
  readonly createdAt?: string | undefined;
  /** spec.suspend. */
  readonly suspended?: boolean | undefined;
  /** status.startTime (RFC 3339), when the controller has started it. */
  readonly startTime?: string | undefined;
  /** What of its spec decides when it succeeds (see jobSucceededByPods in src/apply/job-outcome.ts); absent when unknown. */
  readonly spec?: JobSpecFacts | undefined;
}

/** The parts of a Job's spec that decide when it succeeds or fails, as the API server returned them. */
export interface JobSpecFacts {
  readonly completions: number | undefined;
  readonly parallelism: number | undefined;
  readonly backoffLimit: number | undefined;
  readonly activeDeadlineSeconds: number | undefined;
  readonly completionMode: string | undefined;
  /** spec.successPolicy is set. */
  readonly successPolicy: boolean;
  /** spec.podFailurePolicy is set. */
  readonly podFailurePolicy: boolean;
  /** spec.managedBy (another controller than the built-in Job controller runs it). */
  readonly managedBy: string | undefined;
}

export interface WriteOptions {
  /** Send with dryRun=All: the API server validates and admits, nothing persists. */
  readonly dryRun?: boolean;
}

/** A change the executor makes to a workload's pod template or update strategy. */
export interface WorkloadPatch {
  readonly image?: { readonly container: string; readonly image: string };
  /** StatefulSet RollingUpdate partition. */
  readonly partition?: number;
  /** StatefulSet: records the user's own partition on it (ANNOTATION_PARTITION), or removes the record (null). */
  readonly userPartition?: number | null;
}

export interface AccessCheck {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly name?: string;
}

export interface PodHttpRequest {
  readonly method: 'GET' | 'POST';
  /** Path and query on the pod's HTTP server, e.g. `/v1/instance/info`. */
  readonly path: string;
  readonly body?: unknown;
  readonly timeoutMs: number;
  /** A POST that only reads (a query with a body): pipelined, and sent again, like a GET. */
  readonly idempotent?: boolean;
}

/** Sends one request of an exchange (see ClusterPort.podHttp). */
export type PodHttpSend = (request: PodHttpRequest) => Promise<PodHttpResponse>;

export interface PodHttpResponse {
  readonly status: number;
  /** Parsed JSON, or `{ message: text }` when the body is not JSON; undefined when empty. */
  readonly body: unknown;
}

export type WatchKind = 'pods' | 'deployments' | 'statefulsets' | 'jobs';

/**
 * Everything the planner and executor need from Kubernetes. The adapter in kube-adapter.ts is the
 * only implementation that talks to a real API server; tests use an in-memory one.
 */
export interface ClusterPort {
  readonly target: ClusterTarget;

  /**
   * A workload and, for a StatefulSet, its pods; with `podName` only that pod is read (the API
   * server filters), so a wait on one pod does not cost more with every replica.
   */
  getWorkload(namespace: string, ref: WorkloadRef, options?: { podName?: string }): Promise<WorkloadState | undefined>;
  /**
   * Every Deployment and StatefulSet of the namespace, without their pods (`pods` is empty): what
   * `init` discovers from, and what a live plan checks for PeerDB workloads the spec leaves out.
   * `forbidden` when listing is not allowed, since neither needs it to be safe.
   */
  listWorkloads(namespace: string): Promise<readonly WorkloadState[] | 'forbidden'>;
  /**
   * From now on, keep this StatefulSet and the pods matching `podSelector` in watch-fed caches (one
   * LIST, then one long-lived WATCH each, re-listed when the API server says 410 Gone): later
   * getWorkload calls for it and waitForChange calls on those pods or on it cost no request and no
   * work per pod. A cache answers only when it is current: it has seen every write this port made
   * to the StatefulSet and to pods, over a watch connected now; otherwise the read goes to the API
   * server as before. Ignored for Deployments.
   */
  follow(namespace: string, ref: WorkloadRef, podSelector: string): void;
  /**
   * From now on, keep every pod, Deployment, StatefulSet and Job of the namespace in watch-fed
   * caches (four LISTs and four long-lived WATCHes, for a run): reads and waits of those kinds are
   * answered from them while they are current (connected, and they have seen this port's last
   * write to what is read), label selectors matched locally; otherwise they go to the API server
   * as before. A kind the namespace cannot be listed or watched for is read as before.
   */
  watchNamespace(namespace: string): void;
  /**
   * Stops every long-lived watch and frees the connections: nothing of the port's keeps running
   * (or keeps the process alive) afterwards. The port is not used after it.
   */
  close(): void;
  patchWorkload(namespace: string, ref: WorkloadRef, patch: WorkloadPatch, options?: WriteOptions): Promise<void>;
  listPods(namespace: string, labelSelector: string): Promise<readonly PodState[]>;
  deletePod(namespace: string, name: string, options?: WriteOptions): Promise<void>;

  getJob(namespace: string, name: string): Promise<JobState | undefined>;
  /** Jobs matching a label selector (ours carry app.kubernetes.io/managed-by=peerdb-upgrade). */
  listJobs(namespace: string, labelSelector: string): Promise<readonly JobState[]>;
  createJob(namespace: string, manifest: JobManifest, options?: WriteOptions): Promise<JobState>;
  deleteJob(namespace: string, name: string, options?: WriteOptions): Promise<void>;
  /** The last lines of the log of the Job's newest failed (or any) pod; undefined when unavailable. */
  jobLogTail(namespace: string, jobName: string, lines: number): Promise<string | undefined>;
  /** Pods of a Job, for reasons such as ImagePullBackOff. */
  listJobPods(namespace: string, jobName: string): Promise<readonly PodState[]>;

  getConfigMap(namespace: string, name: string): Promise<ConfigMapState | undefined>;
  /** Creates, or replaces at `resourceVersion`; a stale resourceVersion throws a conflict. */
  writeConfigMap(
    namespace: string,
    name: string,
    content: { data: Record<string, string>; labels: Record<string, string> },
    resourceVersion: string | undefined,
    options?: WriteOptions,
  ): Promise<ConfigMapState>;

  getLease(namespace: string, name: string): Promise<LeaseState | undefined>;
  writeLease(namespace: string, name: string, lease: LeaseSpec, resourceVersion: string | undefined, options?: WriteOptions): Promise<LeaseState>;
  deleteLease(namespace: string, name: string, resourceVersion: string | undefined, options?: WriteOptions): Promise<void>;

  /**
   * The newest revision of a Helm release stored as Secrets (Helm 3's default driver). Needs `list`
   * on secrets: without it the answer is `forbidden`, never an error, since the upgrade can go on.
   */
  readHelmRelease(namespace: string, release: string): Promise<HelmReleaseRead>;

  /**
   * HTTP to a port of a pod through the API server (pods/portforward): how flow-api's gateway is
   * reached with nothing but the kubeconfig. The requests `exchange` sends share one forwarded
   * connection, closed when it settles. Transport failures throw ClusterError.
   */
  podHttp<T>(namespace: string, pod: string, port: number, exchange: (send: PodHttpSend) => Promise<T>): Promise<T>;

  /** SelfSubjectAccessReview for each check; returns the ones denied. */
  deniedAccess(namespace: string, checks: readonly AccessCheck[]): Promise<readonly AccessCheck[]>;

  /**
   * Resolves when something of `kind` that matches the selector changes, or after `timeoutMs`
   * (whichever is first). Implementations watch and fall back to a short sleep when a watch breaks.
   */
  waitForChange(namespace: string, kind: WatchKind, selector: { labelSelector?: string; fieldSelector?: string }, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /**
   * As waitForChange, for the first change of any of `watches` (a Job and its pods, say): on the
   * run's watch caches, no request; the waits that lose are cancelled.
   */
  waitForAnyChange(namespace: string, watches: readonly WatchSpec[], timeoutMs: number, signal?: AbortSignal): Promise<void>;
}

/** What a wait watches: a kind, narrowed by selectors. */
export interface WatchSpec {
  readonly kind: WatchKind;
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
}

export type ClusterReader = Pick<ClusterPort, 'target' | 'getWorkload' | 'listWorkloads' | 'getConfigMap' | 'readHelmRelease' | 'listPods' | 'podHttp'>;
