/**
 * MemoryCluster: an in-memory ClusterPort that behaves like Kubernetes where an upgrade executor can
 * get it wrong, on simulated time.
 *
 * - One global resourceVersion counter (like etcd), bumped by every write that changes something,
 *   controller status writes included; `generation` bumps on spec changes only.
 * - Controllers run in `tick()`: the kubelet step first (terminating pods go away, new pods start and
 *   become Ready), then the StatefulSet, Deployment and Job controllers. Status (observedGeneration,
 *   updateRevision, replica counts) is written by the controllers, so it lags a patch until the next
 *   tick, as on a real cluster.
 * - StatefulSet (OrderedReady): a missing pod is created first; any pod not Ready (or terminating)
 *   blocks the controller; then RollingUpdate deletes one pod at a time, highest ordinal first, down
 *   to the partition. A deleted pod comes back on currentRevision below the partition, else on
 *   updateRevision (OnDelete: always updateRevision). currentRevision follows updateRevision only for
 *   RollingUpdate with every pod updated and Ready (never for OnDelete, as on a real cluster).
 * - Deployment: RollingUpdate with the default 25% maxSurge (rounded up) / 25% maxUnavailable (down),
 *   or Recreate; Progressing=False/ProgressDeadlineExceeded after progressDeadlineSeconds of clock time.
 * - Jobs get a pod on the first tick and finish `jobTicks` ticks after creation; activeDeadlineSeconds
 *   is enforced on clock time (Failed/DeadlineExceeded).
 * - Images that misbehave by a marker in their tag, the same table as the Go simulator's
 *   (markers.ts): `crashloop`/`oomkill`/`fail` crash-loop (a Job pod runs, then fails:
 *   BackoffLimitExceeded), `badimage`/`imagepull` (ImagePullBackOff), `configerror`
 *   (CreateContainerConfigError), `notready` (runs, never Ready).
 * - The fake clock's sleep(ms) and waitForChange advance time and run one tick per `tickMs` (at least one).
 *
 * Errors mirror the adapter (src/cluster/kube-adapter.ts): a get of a missing object is undefined, a
 * delete of one is a no-op, jobLogTail and waitForChange never throw a ClusterError.
 */
import { createHash } from 'node:crypto';
import { invalid, parseSelector, validateJob, validateLabels, validateName } from './api-rules.js';
import { behaviourOf, type Behaviour } from './markers.js';
import { FakeClock } from './fake-clock.js';
import { ClusterError, type ClusterErrorKind } from '../../../src/cluster/cluster-error.js';
import type {
  AccessCheck,
  ClusterPort,
  ClusterTarget,
  ConfigMapState,
  JobCondition,
  JobState,
  LeaseSpec,
  LeaseState,
  PodHttpRequest,
  PodHttpResponse,
  WatchKind,
  WorkloadPatch,
  WriteOptions,
} from '../../../src/cluster/port.js';
import type { HelmReleaseRead, HelmReleaseState } from '../../../src/cluster/helm-release.js';
import type { WorkloadOwner } from '../../../src/cluster/workload-owner.js';
import type { ContainerState, EnvFromSource, EnvVar, JobManifest, PodState, WorkloadKind, WorkloadRef, WorkloadState } from '../../../src/cluster/types.js';

// The fake clock: fake-clock.ts.
export { FakeClock } from './fake-clock.js';

export interface FakePeerDB {
  mirrors: Map<string, string>;
  maintenance: boolean;
  recorded: string[];
  failsToResume: Set<string>;
  reachable: boolean;
}

export type PortMethod = Exclude<keyof ClusterPort, 'target'>;

export interface CallRecord {
  readonly method: PortMethod;
  readonly args: readonly unknown[];
  /** Clock time and tick number when the call was made. */
  readonly at: number;
  readonly tick: number;
  /** Set when the call failed with a ClusterError (injected or real). */
  error?: ClusterErrorKind;
}

export interface PodSnapshot {
  readonly ordinal: number;
  readonly revision: string | undefined;
  readonly ready: boolean;
  readonly deleting: boolean;
}

export type EventType =
  | 'image'
  | 'partition'
  | 'strategy'
  | 'pod-update'
  | 'pod-deleted'
  | 'pod-created'
  | 'pod-ready'
  | 'job-created'
  | 'job-succeeded'
  | 'job-failed'
  | 'job-deleted';

/** What happened in the cluster, in order; for asserting on the history of a rollout. */
export interface ClusterEvent {
  readonly type: EventType;
  readonly at: number;
  readonly tick: number;
  readonly namespace: string;
  /** The owning object: the workload or Job (for pod events, the pod's owner). */
  readonly kind: WorkloadKind | 'Job';
  readonly name: string;
  readonly pod?: string;
  readonly ordinal?: number;
  readonly revision?: string;
  /** image: old/new image; partition: old/new partition; strategy: old/new type; pod-update: old/new revision. */
  readonly from?: string | number;
  readonly to?: string | number;
  /** StatefulSet events: the ordinals Ready (and not terminating) at that moment. */
  readonly readyOrdinals?: readonly number[];
  /** StatefulSet events: every pod at that moment, highest ordinal first, and the update revision. */
  readonly pods?: readonly PodSnapshot[];
  readonly updateRevision?: string;
  readonly by?: 'api' | 'controller';
  readonly reason?: string;
}

export interface MemoryClusterOptions {
  readonly clock?: FakeClock;
  /** Ticks a new pod takes to become Ready (default 1). */
  readonly readyAfterTicks?: number;
  /** Ticks from a Job's creation to its end (default 2; at least 2: a pod must exist for a tick). */
  readonly jobTicks?: number;
  /** Ticks a deleted Job stays visible with deleting: true (default 0: gone at once, like Background propagation). */
  readonly jobDeletionTicks?: number;
  /** Clock ms per tick when time advances (default 1000). */
  readonly tickMs?: number;
  /** Namespaces that exist from the start besides `default`. */
  readonly namespaces?: readonly string[];
  /** A run-away wait stops with an error after this many ticks (default 200 000). */
  readonly maxTicks?: number;
}

interface WorkloadOptions {
  readonly image: string;
  readonly replicas?: number;
  /** Name of the container (default: the workload's name). */
  readonly container?: string;
  readonly env?: readonly EnvVar[];
  readonly envFrom?: readonly EnvFromSource[];
  readonly imagePullSecrets?: readonly string[];
  readonly serviceAccountName?: string;
  readonly extraContainers?: readonly { name: string; image: string }[];
  /** Pod selector labels (default { app: <name> }). */
  readonly selector?: Readonly<Record<string, string>>;
  readonly readyAfterTicks?: number;
  /** Who manages it, as the adapter would read it from labels and annotations. */
  readonly owner?: WorkloadOwner;
}

export interface DeploymentOptions extends WorkloadOptions {
  readonly strategy?: 'RollingUpdate' | 'Recreate';
  readonly progressDeadlineSeconds?: number;
}

export interface StatefulSetOptions extends WorkloadOptions {
  readonly strategy?: 'RollingUpdate' | 'OnDelete';
  readonly partition?: number;
  /** Seed a rollout in progress: the image of the main container of the pod at each ordinal. */
  readonly podImages?: readonly (string | undefined)[];
}

export interface PodOverride {
  ready?: boolean;
  phase?: string;
  waitingReason?: string | undefined;
  waitingMessage?: string | undefined;
  restartCount?: number;
}

/** A ClusterError like the adapter makes from a response, for injection. */
export function fault(kind: ClusterErrorKind, message?: string, options: { retryAfterSeconds?: number } = {}): ClusterError {
  const status: Partial<Record<ClusterErrorKind, number>> = {
    'not-found': 404, 'already-exists': 409, conflict: 409, invalid: 422, forbidden: 403, unauthorized: 401,
    throttled: 429, server: 500, gone: 410, 'bad-request': 400,
  };
  return new ClusterError(kind, message ?? `${kind} (injected)`, { ...(status[kind] ? { status: status[kind] } : {}), ...options });
}

// ─── Internal state ──────────────────────────────────────────────────────────────────────────────

interface Template {
  containers: ContainerState[];
  imagePullSecrets: string[];
  serviceAccountName: string | undefined;
}

type Condition = { type: string; status: string; reason?: string; message?: string };

interface Workload {
  owner: WorkloadOwner;
  kind: WorkloadKind;
  name: string;
  namespace: string;
  uid: string;
  rv: string;
  generation: number;
  replicas: number;
  selector: Record<string, string>;
  template: Template;
  strategy: string;
  partition: number;
  readyAfterTicks: number;
  progressDeadlineSeconds: number;
  /** ControllerRevisions (StatefulSet) / ReplicaSets (Deployment): hash → template. */
  revisions: Map<string, Template>;
  status: {
    observedGeneration: number;
    replicas: number;
    readyReplicas: number;
    updatedReplicas: number;
    availableReplicas: number;
    currentRevision: string | undefined;
    updateRevision: string | undefined;
    conditions: Condition[];
  };
  lastProgressAt: number;
  progressMark: string;
}

interface Pod {
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  owner: { kind: WorkloadKind | 'Job'; name: string };
  ordinal: number | undefined;
  revision: string | undefined;
  images: string[];
  phase: string;
  ready: boolean;
  waitingReason: string | undefined;
  waitingMessage: string | undefined;
  restartCount: number;
  /** The node it is bound to: round robin over three for workload pods, nodeName for Job pods that set it. */
  node: string | undefined;
  createdTick: number;
  deletedTick: number | undefined;
  readyAfterTicks: number;
  pinned: boolean;
}

interface Job {
  name: string;
  namespace: string;
  uid: string;
  rv: string;
  labels: Record<string, string>;
  manifest: JobManifest;
  createdTick: number;
  startTime: number | undefined;
  active: number;
  succeeded: number;
  failed: number;
  conditions: JobCondition[];
  deletedTick: number | undefined;
}

interface StoredLease {
  rv: string;
  holderIdentity: string | undefined;
  leaseDurationSeconds: number | undefined;
  acquireTime: string | undefined;
  renewTime: string | undefined;
  annotations: Record<string, string>;
  labels: Record<string, string>;
}

interface Namespace {
  workloads: Map<string, Workload>;
  pods: Map<string, Pod>;
  jobs: Map<string, Job>;
  configMaps: Map<string, { rv: string; data: Record<string, string>; labels: Record<string, string> }>;
  leases: Map<string, StoredLease>;
}

interface Fault {
  readonly fn: (call: { method: PortMethod; args: readonly unknown[] }) => ClusterError | undefined;
  remaining: number;
  readonly applied: boolean;
}

const PLURAL = { Deployment: 'deployments', StatefulSet: 'statefulsets' } as const;
const FORBIDDEN_HINT = 'grant the Role printed by `peerdb-upgrade rbac`';
const CONFIGMAP_LIMIT = 1024 * 1024;

// ─── The cluster ─────────────────────────────────────────────────────────────────────────────────

export class MemoryCluster implements ClusterPort {
  readonly target: ClusterTarget = { context: 'memory', server: 'memory://', namespace: 'default', user: 'tester' };
  readonly clock: FakeClock;
  /** Every port call, in order, with its arguments (copied) and the error kind if it failed. */
  readonly calls: CallRecord[] = [];
  readonly events: ClusterEvent[] = [];
  /** Log text per Job name, returned (tailed) by jobLogTail. */
  readonly jobLogs = new Map<string, string>();

  private readonly namespaces = new Map<string, Namespace>();
  private readonly helmReleases = new Map<string, HelmReleaseState>();
  private readonly peerdbs = new Map<string, FakePeerDB>();
  private readonly faults: Fault[] = [];
  private readonly denials: { verb: string; resource: string; subresource: string | undefined; group: string | undefined }[] = [];
  private readonly createdCounts = { Job: new Map<string, number>(), ConfigMap: new Map<string, number>(), Lease: new Map<string, number>() };
  private readonly readyAfterTicks: number;
  private readonly jobTicks: number;
  private readonly jobDeletionTicks: number;
  private readonly tickMs: number;
  private readonly maxTicks: number;
  private rvCounter = 1000;
  private uidCounter = 0;
  private ticks = 0;
  private pendingMs = 0;
  private ticksThisAdvance = 0;

  constructor(options: MemoryClusterOptions = {}) {
    this.clock = options.clock ?? new FakeClock();
    this.readyAfterTicks = options.readyAfterTicks ?? 1;
    this.jobTicks = Math.max(2, options.jobTicks ?? 2);
    this.jobDeletionTicks = options.jobDeletionTicks ?? 0;
    this.tickMs = options.tickMs ?? 1000;
    this.maxTicks = options.maxTicks ?? 200_000;
    for (const ns of ['default', ...(options.namespaces ?? [])]) this.addNamespace(ns);
    this.clock.onAdvance((ms, last) => this.onTimePassed(ms, last));
  }

  /** The number of ticks run so far. */
  get tickCount(): number {
    return this.ticks;
  }

  /** The newest resourceVersion handed out. */
  get resourceVersion(): string {
    return String(this.rvCounter);
  }

  // ─── Seeding ─────────────────────────────────────────────────────────────────────────────────

  addNamespace(namespace: string): this {
    if (!this.namespaces.has(namespace)) {
      this.namespaces.set(namespace, { workloads: new Map(), pods: new Map(), jobs: new Map(), configMaps: new Map(), leases: new Map() });
    }
    return this;
  }

  addDeployment(namespace: string, name: string, options: DeploymentOptions): this {
    const w = this.newWorkload('Deployment', namespace, name, options);
    w.strategy = options.strategy ?? 'RollingUpdate';
    w.progressDeadlineSeconds = options.progressDeadlineSeconds ?? 600;
    const hash = this.registerRevision(w, w.template);
    for (let i = 0; i < w.replicas; i++) this.seedPod(w, this.deploymentPodName(w, hash), undefined, hash);
    w.status.conditions = [
      { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' },
      { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${name}-${hash}" has successfully progressed.` },
    ];
    this.computeDeploymentStatus(w);
    return this;
  }

  addStatefulSet(namespace: string, name: string, options: StatefulSetOptions): this {
    const w = this.newWorkload('StatefulSet', namespace, name, options);
    w.strategy = options.strategy ?? 'RollingUpdate';
    w.partition = options.partition ?? 0;
    const updateRevision = this.registerRevision(w, w.template);
    let currentRevision = updateRevision;
    for (let ordinal = 0; ordinal < w.replicas; ordinal++) {
      const image = options.podImages?.[ordinal];
      const template = image === undefined ? w.template : withImage(w.template, w.template.containers[0]!.name, image);
      const revision = this.registerRevision(w, template);
      if (ordinal === 0) currentRevision = revision;
      this.seedPod(w, `${name}-${ordinal}`, ordinal, revision);
    }
    w.status.updateRevision = updateRevision;
    w.status.currentRevision = currentRevision;
    this.computeStatefulSetStatus(w);
    return this;
  }

  /** The PeerDB Helm chart's five workloads at `version` (images ghcr.io/peerdb-io/<name>:stable-<version>), all Ready. */
  seedHelm(namespace: string, version: string, options: { snapshotReplicas?: number; owner?: WorkloadOwner } = {}): this {
    const own = options.owner ? { owner: options.owner } : {};
    const image = (component: string) => `ghcr.io/peerdb-io/${component}:stable-${version}`;
    const catalogPassword: EnvVar = { name: 'PEERDB_CATALOG_PASSWORD', valueFrom: { secretKeyRef: { name: 'peerdb-catalog', key: 'password' } } };
    this.addDeployment(namespace, 'flow-api', { ...own, image: image('flow-api') });
    this.addDeployment(namespace, 'flow-worker', { ...own,
      image: image('flow-worker'),
      env: [
        { name: 'PEERDB_CATALOG_HOST', value: 'catalog.peerdb.svc' },
        catalogPassword,
        { name: 'TEMPORAL_HOST_PORT', value: 'temporal:7233' },
        { name: 'PEERDB_DEPLOYMENT_UID', value: 'uid-1234' },
        { name: 'TEMPORAL_CLIENT_KEY', value: 'literal-secret-material' },
      ],
      envFrom: [{ configMapRef: { name: 'peerdb-config' } }],
      imagePullSecrets: ['ghcr'],
    });
    this.addStatefulSet(namespace, 'flow-snapshot-worker', { ...own, image: image('flow-snapshot-worker'), replicas: options.snapshotReplicas ?? 3 });
    this.addDeployment(namespace, 'peerdb-server', { ...own,
      image: image('peerdb-server'),
      env: [{ name: 'PEERDB_CATALOG_HOST', value: 'catalog.peerdb.svc' }, catalogPassword, { name: 'PEERDB_MIGRATIONS_DISABLED', value: 'false' }],
    });
    this.addDeployment(namespace, 'peerdb-ui', { ...own, image: image('peerdb-ui') });
    return this;
  }

  addConfigMap(namespace: string, name: string, data: Record<string, string>, labels: Record<string, string> = {}): ConfigMapState {
    const ns = this.addNamespace(namespace).ns(namespace);
    ns.configMaps.set(name, { rv: this.nextRv(), data: { ...data }, labels: { ...labels } });
    return this.configMapState(namespace, name)!;
  }

  addLease(namespace: string, name: string, spec: Partial<LeaseSpec>): LeaseState {
    const ns = this.addNamespace(namespace).ns(namespace);
    ns.leases.set(name, {
      rv: this.nextRv(),
      holderIdentity: spec.holderIdentity,
      leaseDurationSeconds: spec.leaseDurationSeconds,
      acquireTime: spec.acquireTime === undefined ? undefined : microTime(spec.acquireTime),
      renewTime: spec.renewTime === undefined ? undefined : microTime(spec.renewTime),
      annotations: { ...spec.annotations },
      labels: { ...spec.labels },
    });
    return this.leaseState(namespace, name)!;
  }

  /** A Job as a previous run left it (not logged as a call, not counted by created()). */
  addJob(namespace: string, manifest: JobManifest, outcome: 'running' | 'succeeded' | 'failed' = 'running'): JobState {
    this.addNamespace(namespace);
    const job = this.storeJob(namespace, manifest);
    if (outcome !== 'running') {
      this.jobStartPod(job);
      this.jobFinish(job, outcome === 'succeeded' ? 'succeeded' : 'failed', 'BackoffLimitExceeded');
    }
    return this.jobState(job);
  }

  // ─── Failure injection and access ───────────────────────────────────────────────────────────

  /**
   * The next `times` calls of `method` throw `error`. With `applied: true` the call takes effect first
   * and then throws, like a response lost on the way back.
   */
  failNext(method: PortMethod, error: ClusterError, options: { times?: number; applied?: boolean } = {}): this {
    this.faults.push({ fn: (call) => (call.method === method ? error : undefined), remaining: options.times ?? 1, applied: options.applied ?? false });
    return this;
  }

  /** Calls for which `fn` returns an error throw it (until the returned function is called). */
  inject(fn: (call: { method: PortMethod; args: readonly unknown[] }) => ClusterError | undefined, options: { times?: number; applied?: boolean } = {}): () => void {
    const entry: Fault = { fn, remaining: options.times ?? Infinity, applied: options.applied ?? false };
    this.faults.push(entry);
    return () => {
      entry.remaining = 0;
    };
  }

  /**
   * PeerDB as flow-api shows it, per namespace: mirrors by name with their FlowStatus, maintenance
   * mode, the mirrors maintenance start recorded. Maintenance Jobs act on it when they succeed
   * (start pauses running mirrors, end resumes the recorded ones except those in failsToResume).
   * `reachable: false` makes every podHttp fail like a refused port-forward.
   */
  /**
   * Makes every container of `image` behave as a marker says (markers.ts), whatever its tag: the
   * fake's counterpart of the Go simulator's per-pod annotation and SIM_BEHAVIOR env, which a
   * workload the tool rolls cannot carry on its new image alone.
   */
  misbehave(image: string, behaviour: Behaviour): this {
    this.imageBehaviours.set(image, behaviour);
    return this;
  }

  private readonly imageBehaviours = new Map<string, Behaviour>();
  /** An image's behaviour: as told by misbehave(), else by the marker in its tag. */
  private readonly behaviours = (image: string): Behaviour | undefined => this.imageBehaviours.get(image) ?? behaviourOf(image);

  peerdb(namespace: string): FakePeerDB {
    let p = this.peerdbs.get(namespace);
    if (!p) {
      p = { mirrors: new Map(), maintenance: false, recorded: [], failsToResume: new Set(), reachable: true };
      this.peerdbs.set(namespace, p);
    }
    return p;
  }

  /** RBAC says no: deniedAccess reports it and the matching calls fail with forbidden. `resource` may be `pods/log`. */
  deny(verb: string, resource: string, options: { group?: string } = {}): this {
    const [res, sub] = resource.split('/');
    this.denials.push({ verb, resource: res!, subresource: sub, group: options.group });
    return this;
  }

  // ─── Simulation ──────────────────────────────────────────────────────────────────────────────

  /** Runs the kubelet and the controllers `n` times; the clock does not move. */
  tick(n = 1): void {
    for (let i = 0; i < n; i++) {
      this.ticks++;
      if (this.ticks > this.maxTicks) throw new Error(`MemoryCluster: more than ${this.maxTicks} ticks; a wait never ends`);
      for (const ns of this.namespaces.values()) {
        this.kubelet(ns);
        for (const w of ns.workloads.values()) this.sync(w, () => (w.kind === 'StatefulSet' ? this.syncStatefulSet(w) : this.syncDeployment(w)));
        for (const job of [...ns.jobs.values()]) this.syncJob(ns, job);
      }
    }
  }

  /** Moves the clock by `ms`; one tick per tickMs of it (at least one). */
  advance(ms: number): void {
    this.clock.advance(ms);
  }

  /**
   * Ticks (without moving the clock) until nothing has changed for long enough that nothing will
   * (pods that are about to become Ready, Jobs about to finish); returns the ticks run.
   */
  settle(maxTicks = 1000): number {
    let slowest = Math.max(this.readyAfterTicks, this.jobTicks, this.jobDeletionTicks);
    for (const ns of this.namespaces.values()) for (const w of ns.workloads.values()) slowest = Math.max(slowest, w.readyAfterTicks);
    let quiet = 0;
    for (let n = 1; n <= maxTicks; n++) {
      const before = this.rvCounter;
      this.tick();
      quiet = this.rvCounter === before ? quiet + 1 : 0;
      if (quiet > slowest) return n;
    }
    return maxTicks;
  }

  /** Forces a pod's observed state; the kubelet leaves it alone afterwards. */
  setPod(namespace: string, podName: string, override: PodOverride): void {
    const pod = this.ns(namespace).pods.get(podName);
    if (!pod) throw new Error(`MemoryCluster.setPod: no pod ${namespace}/${podName}`);
    Object.assign(pod, override, { pinned: true });
    this.nextRv();
  }

  /** Another writer changes the ConfigMap: its resourceVersion moves on. */
  touchConfigMap(namespace: string, name: string, data?: Record<string, string>): ConfigMapState {
    const cm = this.ns(namespace).configMaps.get(name);
    if (!cm) throw new Error(`MemoryCluster.touchConfigMap: no ConfigMap ${namespace}/${name}`);
    if (data) cm.data = { ...data };
    cm.rv = this.nextRv();
    return this.configMapState(namespace, name)!;
  }

  // ─── Inspection (not logged) ─────────────────────────────────────────────────────────────────

  /** Successful (not dry-run) creations per object name. */
  created(kind: 'Job' | 'ConfigMap' | 'Lease'): Record<string, number> {
    return Object.fromEntries(this.createdCounts[kind]);
  }

  callsTo(method: PortMethod): CallRecord[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** The partition values a StatefulSet was patched to, in order (changes only). */
  partitionHistory(namespace: string, name: string): number[] {
    return this.events.filter((e) => e.type === 'partition' && e.namespace === namespace && e.name === name).map((e) => e.to as number);
  }

  /** The StatefulSet controller's pod updates (the deletion of a pod to replace it), in order. */
  podUpdates(namespace: string, name: string): ClusterEvent[] {
    return this.events.filter((e) => e.type === 'pod-update' && e.namespace === namespace && e.name === name);
  }

  peekWorkload(namespace: string, ref: WorkloadRef): WorkloadState | undefined {
    const w = this.namespaces.get(namespace)?.workloads.get(key(ref));
    return w && this.workloadState(w);
  }

  peekPods(namespace: string, labelSelector = ''): PodState[] {
    const match = parseSelector(labelSelector);
    return [...(this.namespaces.get(namespace)?.pods.values() ?? [])].filter((p) => match(p.labels)).map(podState);
  }

  peekJob(namespace: string, name: string): JobState | undefined {
    const job = this.namespaces.get(namespace)?.jobs.get(name);
    return job && this.jobState(job);
  }

  peekConfigMap(namespace: string, name: string): ConfigMapState | undefined {
    return this.configMapState(namespace, name);
  }

  peekLease(namespace: string, name: string): LeaseState | undefined {
    return this.leaseState(namespace, name);
  }

  // ─── ClusterPort: workloads and pods ─────────────────────────────────────────────────────────

  getWorkload(namespace: string, ref: WorkloadRef, options: { podName?: string } = {}): Promise<WorkloadState | undefined> {
    return this.call('getWorkload', [namespace, ref, options], () => {
      this.authorize(namespace, 'get', PLURAL[ref.kind], 'apps');
      if (ref.kind === 'StatefulSet') this.authorize(namespace, 'list', 'pods', '');
      const w = this.peekWorkload(namespace, ref);
      if (!w || options.podName === undefined) return w;
      return { ...w, pods: w.pods.filter((p) => p.name === options.podName) };
    }, absent);
  }

  /** StatefulSets the executor asked to follow (namespace/name → pod selector); reads stay as they are. */
  readonly followed = new Map<string, string>();

  follow(namespace: string, ref: WorkloadRef, podSelector: string): void {
    if (ref.kind === 'StatefulSet') this.followed.set(`${namespace}/${ref.name}`, podSelector);
  }

  /** Times the port was closed (the CLI closes every port it opened when a command ends). */
  closed = 0;

  close(): void {
    this.closed++;
  }

  listWorkloads(namespace: string): Promise<readonly WorkloadState[] | 'forbidden'> {
    return this.call('listWorkloads', [namespace], () => {
      if (this.isDenied('list', 'deployments', 'apps', undefined) || this.isDenied('list', 'statefulsets', 'apps', undefined)) return 'forbidden' as const;
      const refs = [...(this.namespaces.get(namespace)?.workloads.values() ?? [])].map((w) => ({ kind: w.kind, name: w.name }));
      return refs.map((ref) => ({ ...this.peekWorkload(namespace, ref)!, pods: [] }));
    });
  }

  patchWorkload(namespace: string, ref: WorkloadRef, patch: WorkloadPatch, options: WriteOptions = {}): Promise<void> {
    return this.call('patchWorkload', [namespace, ref, patch, options], () => {
      const what = `${PLURAL[ref.kind]}.apps ${namespace}/${ref.name}`;
      this.authorize(namespace, 'patch', PLURAL[ref.kind], 'apps');
      const w = this.namespaces.get(namespace)?.workloads.get(key(ref));
      if (!w) throw notFound(what);
      let template = w.template;
      if (patch.image) {
        const index = w.template.containers.findIndex((c) => c.name === patch.image!.container);
        // The real API server would append a new container {name, image} (strategic merge by name): an
        // executor must name an existing container, so the fake refuses loudly instead.
        if (index < 0) throw invalid(`spec.template.spec.containers: no container "${patch.image.container}" in ${what} (has ${w.template.containers.map((c) => c.name).join(', ')})`);
        if (!patch.image.image.trim()) throw invalid(`spec.template.spec.containers[${index}].image: Required value`);
        template = withImage(w.template, patch.image.container, patch.image.image);
      }
      if (patch.partition !== undefined) {
        if (ref.kind !== 'StatefulSet') throw invalid(`spec.updateStrategy: a Deployment has no partition (${what})`);
        if (!Number.isInteger(patch.partition) || patch.partition < 0) throw invalid(`spec.updateStrategy.rollingUpdate.partition: Invalid value: ${patch.partition}: must be greater than or equal to 0`);
      }
      if (options.dryRun) return;
      const before = { image: w.template, strategy: w.strategy, partition: w.partition };
      const snapshotBefore = w.kind === 'StatefulSet' ? this.podSnapshot(w) : undefined;
      let changed = false;
      if (patch.image && JSON.stringify(template) !== JSON.stringify(w.template)) {
        const from = w.template.containers.find((c) => c.name === patch.image!.container)!.image;
        w.template = template;
        changed = true;
        this.event({ type: 'image', namespace, kind: w.kind, name: w.name, from, to: patch.image.image, ...snapshotBefore });
      }
      if (patch.partition !== undefined) {
        if (w.strategy !== 'RollingUpdate') {
          this.event({ type: 'strategy', namespace, kind: w.kind, name: w.name, from: w.strategy, to: 'RollingUpdate' });
          w.strategy = 'RollingUpdate';
          changed = true;
        }
        if (w.partition !== patch.partition) {
          this.event({ type: 'partition', namespace, kind: w.kind, name: w.name, from: before.partition, to: patch.partition, ...snapshotBefore });
          w.partition = patch.partition;
          changed = true;
        }
      }
      if (changed) {
        w.generation++;
        w.rv = this.nextRv();
      }
    });
  }

  listPods(namespace: string, labelSelector: string): Promise<readonly PodState[]> {
    return this.call('listPods', [namespace, labelSelector], () => {
      this.authorize(namespace, 'list', 'pods', '');
      return this.peekPods(namespace, labelSelector);
    });
  }

  deletePod(namespace: string, name: string, options: WriteOptions = {}): Promise<void> {
    return this.call('deletePod', [namespace, name, options], () => {
      this.authorize(namespace, 'delete', 'pods', '');
      const pod = this.namespaces.get(namespace)?.pods.get(name);
      if (!pod || options.dryRun || pod.deletedTick !== undefined) return;
      this.markDeleting(pod, 'api');
    }, absent);
  }

  // ─── ClusterPort: Jobs ───────────────────────────────────────────────────────────────────────

  getJob(namespace: string, name: string): Promise<JobState | undefined> {
    return this.call('getJob', [namespace, name], () => {
      this.authorize(namespace, 'get', 'jobs', 'batch');
      return this.peekJob(namespace, name);
    }, absent);
  }

  listJobs(namespace: string, labelSelector: string): Promise<readonly JobState[]> {
    return this.call('listJobs', [namespace, labelSelector], () => {
      this.authorize(namespace, 'list', 'jobs', 'batch');
      const match = parseSelector(labelSelector);
      return [...(this.namespaces.get(namespace)?.jobs.values() ?? [])].filter((j) => match(j.labels)).map((j) => this.jobState(j));
    });
  }

  createJob(namespace: string, manifest: JobManifest, options: WriteOptions = {}): Promise<JobState> {
    return this.call('createJob', [namespace, manifest, options], () => {
      const name = manifest.metadata.name;
      const what = `jobs.batch ${namespace}/${name}`;
      this.authorize(namespace, 'create', 'jobs', 'batch');
      if (manifest.metadata.namespace && manifest.metadata.namespace !== namespace) {
        throw new ClusterError('bad-request', `request refused (400) for POST ${what}: the namespace of the provided object does not match the namespace sent on the request`, { status: 400 });
      }
      const ns = this.existingNamespace(namespace, what);
      validateJob(manifest);
      if (ns.jobs.has(name)) throw alreadyExists(what);
      if (options.dryRun) return { name, uid: `dry-run-${name}`, labels: { ...manifest.metadata.labels }, active: 0, succeeded: 0, failed: 0, conditions: [], deleting: false };
      const job = this.storeJob(namespace, manifest);
      this.count('Job', name);
      return this.jobState(job);
    });
  }

  deleteJob(namespace: string, name: string, options: WriteOptions = {}): Promise<void> {
    return this.call('deleteJob', [namespace, name, options], () => {
      this.authorize(namespace, 'delete', 'jobs', 'batch');
      const ns = this.namespaces.get(namespace);
      const job = ns?.jobs.get(name);
      if (!ns || !job || options.dryRun || job.deletedTick !== undefined) return;
      for (const pod of this.jobPods(ns, job)) if (pod.deletedTick === undefined) this.markDeleting(pod, 'controller');
      this.event({ type: 'job-deleted', namespace, kind: 'Job', name });
      if (this.jobDeletionTicks > 0) {
        job.deletedTick = this.ticks;
        job.rv = this.nextRv();
      } else {
        ns.jobs.delete(name);
        this.nextRv();
      }
    }, absent);
  }

  jobLogTail(namespace: string, jobName: string, lines: number): Promise<string | undefined> {
    return this.call('jobLogTail', [namespace, jobName, lines], () => {
      this.authorize(namespace, 'list', 'pods', '');
      this.authorize(namespace, 'get', 'pods', '', 'log');
      const ns = this.namespaces.get(namespace);
      const job = ns?.jobs.get(jobName);
      const pods = ns ? [...ns.pods.values()].filter((p) => p.labels['job-name'] === jobName) : [];
      if (pods.length === 0) return undefined;
      const failed = job?.conditions.some((c) => c.type === 'Failed');
      const text = this.jobLogs.get(jobName) ?? (failed ? `error: ${jobName} failed (simulated)\n` : '');
      const all = text.replace(/\n$/, '').split('\n');
      return all.slice(Math.max(0, all.length - lines)).join('\n');
    }, () => ({ value: undefined }));
  }

  listJobPods(namespace: string, jobName: string): Promise<readonly PodState[]> {
    return this.call('listJobPods', [namespace, jobName], () => {
      this.authorize(namespace, 'list', 'pods', '');
      return this.peekPods(namespace, `job-name=${jobName}`);
    });
  }

  // ─── ClusterPort: Helm releases ──────────────────────────────────────────────────────────────

  /** Seeds a Helm release record (what Helm 3 keeps in a `sh.helm.release.v1.*` Secret). */
  addHelmRelease(release: HelmReleaseState): this {
    this.helmReleases.set(`${release.namespace}/${release.name}`, copy(release));
    return this;
  }

  readHelmRelease(namespace: string, release: string): Promise<HelmReleaseRead> {
    return this.call('readHelmRelease', [namespace, release], () => {
      if (this.isDenied('list', 'secrets', '', undefined)) return { outcome: 'forbidden' as const, detail: `not allowed to list secrets in namespace ${namespace}` };
      const found = this.helmReleases.get(`${namespace}/${release}`);
      return found ? { outcome: 'read' as const, release: copy(found) } : { outcome: 'not-found' as const, detail: `no Secret labelled owner=helm,name=${release} in namespace ${namespace}` };
    });
  }

  // ─── ClusterPort: ConfigMaps ─────────────────────────────────────────────────────────────────

  getConfigMap(namespace: string, name: string): Promise<ConfigMapState | undefined> {
    return this.call('getConfigMap', [namespace, name], () => {
      this.authorize(namespace, 'get', 'configmaps', '');
      return this.configMapState(namespace, name);
    }, absent);
  }

  writeConfigMap(
    namespace: string,
    name: string,
    content: { data: Record<string, string>; labels: Record<string, string> },
    resourceVersion: string | undefined,
    options: WriteOptions = {},
  ): Promise<ConfigMapState> {
    return this.call('writeConfigMap', [namespace, name, content, resourceVersion, options], () => {
      const what = `configmap ${namespace}/${name}`;
      this.authorize(namespace, resourceVersion ? 'update' : 'create', 'configmaps', '');
      const ns = this.existingNamespace(namespace, what);
      validateName(name, 253, 'metadata.name');
      validateLabels(content.labels);
      let size = 0;
      for (const [k, v] of Object.entries(content.data)) {
        if (!/^[-._a-zA-Z0-9]+$/.test(k)) throw invalid(`data[${k}]: Invalid value: "${k}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`);
        size += Buffer.byteLength(k) + Buffer.byteLength(v);
      }
      if (size > CONFIGMAP_LIMIT) throw invalid(`[]: Too long: must have at most ${CONFIGMAP_LIMIT} bytes (${what} has ${size})`);
      const existing = ns.configMaps.get(name);
      this.precondition(what, existing?.rv, resourceVersion);
      const state: ConfigMapState = { name, resourceVersion: options.dryRun ? (resourceVersion ?? '') : '', data: { ...content.data }, labels: { ...content.labels } };
      if (options.dryRun) return state;
      const rv = this.nextRv();
      ns.configMaps.set(name, { rv, data: { ...content.data }, labels: { ...content.labels } });
      if (!resourceVersion) this.count('ConfigMap', name);
      return { ...state, resourceVersion: rv };
    });
  }


  // ─── ClusterPort: Leases ─────────────────────────────────────────────────────────────────────

  getLease(namespace: string, name: string): Promise<LeaseState | undefined> {
    return this.call('getLease', [namespace, name], () => {
      this.authorize(namespace, 'get', 'leases', 'coordination.k8s.io');
      return this.leaseState(namespace, name);
    }, absent);
  }

  writeLease(namespace: string, name: string, lease: LeaseSpec, resourceVersion: string | undefined, options: WriteOptions = {}): Promise<LeaseState> {
    return this.call('writeLease', [namespace, name, lease, resourceVersion, options], () => {
      const what = `lease ${namespace}/${name}`;
      this.authorize(namespace, resourceVersion ? 'update' : 'create', 'leases', 'coordination.k8s.io');
      const ns = this.existingNamespace(namespace, what);
      validateName(name, 253, 'metadata.name');
      validateLabels(lease.labels);
      if (!(lease.leaseDurationSeconds > 0)) throw invalid(`spec.leaseDurationSeconds: Invalid value: ${lease.leaseDurationSeconds}: must be greater than 0`);
      const stored: StoredLease = {
        rv: '',
        holderIdentity: lease.holderIdentity || undefined,
        leaseDurationSeconds: lease.leaseDurationSeconds,
        acquireTime: microTime(lease.acquireTime),
        renewTime: microTime(lease.renewTime),
        annotations: { ...lease.annotations },
        labels: { ...lease.labels },
      };
      this.precondition(what, ns.leases.get(name)?.rv, resourceVersion);
      if (options.dryRun) return toLeaseState(name, { ...stored, rv: resourceVersion ?? '' });
      stored.rv = this.nextRv();
      ns.leases.set(name, stored);
      if (!resourceVersion) this.count('Lease', name);
      return toLeaseState(name, stored);
    });
  }

  deleteLease(namespace: string, name: string, resourceVersion: string | undefined, options: WriteOptions = {}): Promise<void> {
    return this.call('deleteLease', [namespace, name, resourceVersion, options], () => {
      this.authorize(namespace, 'delete', 'leases', 'coordination.k8s.io');
      const ns = this.namespaces.get(namespace);
      const lease = ns?.leases.get(name);
      if (!ns || !lease) return;
      if (resourceVersion && lease.rv !== resourceVersion) throw conflict(`lease ${namespace}/${name}`);
      if (options.dryRun) return;
      ns.leases.delete(name);
      this.nextRv();
    }, absent);
  }

  // ─── ClusterPort: access and watches ─────────────────────────────────────────────────────────

  podHttp(namespace: string, pod: string, port: number, request: PodHttpRequest): Promise<PodHttpResponse> {
    return this.call('podHttp', [namespace, pod, port, request], () => {
      this.authorize(namespace, 'create', 'pods', '', 'portforward');
      const p = this.peerdb(namespace);
      const found = [...this.ns(namespace).pods.values()].find((x) => x.name === pod && x.deletedTick === undefined);
      if (!p.reachable || !found || !found.ready) {
        throw new ClusterError('network', `cannot reach pod ${namespace}/${pod} port ${port}: connection refused`);
      }
      const ok = (body: unknown): PodHttpResponse => ({ status: 200, body });
      const body = (request.body ?? {}) as { flowJobName?: string; requestedFlowState?: string };
      switch (`${request.method} ${request.path}`) {
        case 'GET /v1/version':
          return ok({ version: found.images[0]?.split(':').at(-1) ?? '' });
        case 'GET /v1/instance/info':
          return ok({ status: p.maintenance ? 'INSTANCE_STATUS_MAINTENANCE' : 'INSTANCE_STATUS_READY' });
        case 'GET /v1/instance/maintenance/status':
          return ok({ maintenanceRunning: p.maintenance, phase: p.maintenance ? 'MAINTENANCE_PHASE_MAINTENANCE_MODE_ENABLED' : 'MAINTENANCE_PHASE_UNKNOWN', pendingActivities: [] });
        case 'GET /v1/mirrors/list':
          return ok({ mirrors: [...p.mirrors.keys()].map((name, i) => ({ id: String(i + 1), name, isCdc: true })) });
        case 'POST /v1/mirrors/status':
          return p.mirrors.has(body.flowJobName ?? '') ? ok({ flowJobName: body.flowJobName, currentFlowState: p.mirrors.get(body.flowJobName!) }) : { status: 404, body: { code: 5, message: 'not found' } };
        case 'POST /v1/mirrors/state_change':
          if (p.maintenance) return { status: 503, body: { code: 14, message: 'PeerDB is under maintenance' } };
          if (body.requestedFlowState === 'STATUS_RUNNING' && p.mirrors.get(body.flowJobName ?? '') === 'STATUS_PAUSED') {
            p.mirrors.set(body.flowJobName!, 'STATUS_RUNNING');
            p.failsToResume.delete(body.flowJobName!);
          }
          return ok({});
      }
      return { status: 404, body: { code: 5, message: 'Not Found' } };
    });
  }

  deniedAccess(namespace: string, checks: readonly AccessCheck[]): Promise<readonly AccessCheck[]> {
    return this.call('deniedAccess', [namespace, checks], () => checks.filter((c) => this.isDenied(c.verb, c.resource, c.group, c.subresource)));
  }

  /** Moves the simulation on by min(timeoutMs, tickMs) of clock time (at least one tick), then resolves. */
  async waitForChange(namespace: string, kind: WatchKind, selector: { labelSelector?: string; fieldSelector?: string }, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await this.call('waitForChange', [namespace, kind, selector, timeoutMs], () => undefined, () => ({ value: undefined }));
    if (signal?.aborted || !(timeoutMs > 0)) return;
    this.clock.advance(Math.min(timeoutMs, this.tickMs));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  // ─── Call plumbing ───────────────────────────────────────────────────────────────────────────

  private async call<T>(method: PortMethod, args: readonly unknown[], body: () => T, absorb?: (error: ClusterError) => { value: T } | undefined): Promise<T> {
    const record: CallRecord = { method, args: args.map(copy), at: this.clock.now(), tick: this.ticks };
    this.calls.push(record);
    await Promise.resolve();
    const fault = this.takeFault(method, args);
    try {
      if (fault && !fault.applied) throw fault.error;
      const value = body();
      if (fault?.applied) throw fault.error;
      return value;
    } catch (error) {
      if (error instanceof ClusterError) {
        record.error = error.kind;
        const absorbed = absorb?.(error);
        if (absorbed) return absorbed.value;
      }
      throw error;
    }
  }

  private takeFault(method: PortMethod, args: readonly unknown[]): { error: ClusterError; applied: boolean } | undefined {
    for (const f of this.faults) {
      if (f.remaining <= 0) continue;
      const error = f.fn({ method, args });
      if (!error) continue;
      f.remaining--;
      return { error, applied: f.applied };
    }
    return undefined;
  }

  private isDenied(verb: string, resource: string, group: string | undefined, subresource: string | undefined): boolean {
    return this.denials.some(
      (d) => (d.verb === verb || d.verb === '*') && d.resource === resource && d.subresource === (subresource || undefined) && (d.group === undefined || d.group === group),
    );
  }

  private authorize(namespace: string, verb: string, resource: string, group: string, subresource?: string): void {
    if (!this.isDenied(verb, resource, group, subresource)) return;
    const res = subresource ? `${resource}/${subresource}` : resource;
    throw new ClusterError(
      'forbidden',
      `forbidden: ${res}${group ? `.${group}` : ''} is forbidden: User "${this.target.user}" cannot ${verb} resource "${res}" in API group "${group}" in the namespace "${namespace}"`,
      { status: 403, hint: FORBIDDEN_HINT },
    );
  }

  private precondition(what: string, current: string | undefined, expected: string | undefined): void {
    if (!expected) {
      if (current !== undefined) throw alreadyExists(what);
    } else if (current === undefined) {
      throw notFound(what);
    } else if (current !== expected) {
      throw conflict(what);
    }
  }

  private ns(namespace: string): Namespace {
    const ns = this.namespaces.get(namespace);
    if (!ns) throw new Error(`MemoryCluster: no namespace ${namespace}`);
    return ns;
  }

  private existingNamespace(namespace: string, what: string): Namespace {
    const ns = this.namespaces.get(namespace);
    if (!ns) throw new ClusterError('not-found', `not found: ${what} (namespaces "${namespace}" not found)`, { status: 404 });
    return ns;
  }

  private nextRv(): string {
    return String(++this.rvCounter);
  }

  private uid(): string {
    return `uid-${String(++this.uidCounter).padStart(6, '0')}`;
  }

  private count(kind: 'Job' | 'ConfigMap' | 'Lease', name: string): void {
    this.createdCounts[kind].set(name, (this.createdCounts[kind].get(name) ?? 0) + 1);
  }

  private event(e: Omit<ClusterEvent, 'at' | 'tick'>): void {
    this.events.push({ at: this.clock.now(), tick: this.ticks, ...e });
  }

  /** One tick per tickMs of clock time, and at least one per advance of the clock. */
  private onTimePassed(ms: number, last: boolean): void {
    this.pendingMs += ms;
    const n = Math.floor(this.pendingMs / this.tickMs);
    this.pendingMs -= n * this.tickMs;
    this.tick(n);
    this.ticksThisAdvance += n;
    if (last) {
      if (this.ticksThisAdvance === 0) {
        this.pendingMs = 0;
        this.tick();
      }
      this.ticksThisAdvance = 0;
    }
  }

  // ─── Kubelet ─────────────────────────────────────────────────────────────────────────────────

  private kubelet(ns: Namespace): void {
    for (const pod of [...ns.pods.values()]) {
      if (pod.deletedTick !== undefined) {
        if (pod.deletedTick < this.ticks) {
          ns.pods.delete(pod.name);
          this.nextRv();
        }
        continue;
      }
      if (pod.pinned || pod.phase === 'Succeeded' || pod.phase === 'Failed') continue;
      const before = JSON.stringify(pod);
      const trouble = podTrouble(pod.images, pod.owner.kind === 'Job', this.behaviours);
      if (trouble.waiting === 'ImagePullBackOff') {
        pod.phase = 'Pending';
        pod.waitingReason = 'ImagePullBackOff';
        pod.waitingMessage = `Back-off pulling image "${pod.images.find((i) => this.behaviours(i) === 'badimage')}"`;
      } else if (trouble.waiting === 'CreateContainerConfigError') {
        pod.phase = 'Pending';
        pod.waitingReason = 'CreateContainerConfigError';
        pod.waitingMessage = 'simulated configuration error (image marker configerror)';
      } else if (trouble.waiting === 'CrashLoopBackOff') {
        pod.phase = 'Running';
        pod.waitingReason = 'CrashLoopBackOff';
        pod.waitingMessage = `back-off restarting failed container`;
        const age = this.ticks - pod.createdTick;
        if (age > 0 && (age & (age - 1)) === 0) pod.restartCount++; // back-off doubles
      } else {
        pod.phase = 'Running';
        pod.waitingReason = undefined;
        pod.waitingMessage = undefined;
        if (!pod.ready && !trouble.neverReady && this.ticks - pod.createdTick >= pod.readyAfterTicks) {
          pod.ready = true;
          if (pod.owner.kind !== 'Job') this.podEvent('pod-ready', pod);
        }
      }
      if (JSON.stringify(pod) !== before) this.nextRv();
    }
  }

  private createPod(namespace: string, name: string, owner: Pod['owner'], labels: Record<string, string>, images: string[], extra: Partial<Pod>): Pod {
    const pod: Pod = {
      name,
      namespace,
      uid: this.uid(),
      labels,
      owner,
      ordinal: undefined,
      revision: undefined,
      images,
      phase: 'Pending',
      ready: false,
      waitingReason: undefined,
      waitingMessage: undefined,
      restartCount: 0,
      node: `node-${this.uidCounter % 3}`,
      createdTick: this.ticks,
      deletedTick: undefined,
      readyAfterTicks: this.readyAfterTicks,
      pinned: false,
      ...extra,
    };
    if (pod.readyAfterTicks <= 0 && podTrouble(images, false, this.behaviours).healthy && owner.kind !== 'Job') {
      pod.phase = 'Running';
      pod.ready = true;
    }
    this.ns(namespace).pods.set(name, pod);
    this.nextRv();
    return pod;
  }

  private markDeleting(pod: Pod, by: 'api' | 'controller'): void {
    if (pod.owner.kind === 'StatefulSet') {
      const w = this.ns(pod.namespace).workloads.get(`StatefulSet/${pod.owner.name}`);
      this.podEvent('pod-deleted', pod, { by, ...(w ? this.podSnapshot(w) : {}) });
    } else {
      this.podEvent('pod-deleted', pod, { by });
    }
    pod.deletedTick = this.ticks;
    this.nextRv();
  }

  private podEvent(type: EventType, pod: Pod, extra: Partial<ClusterEvent> = {}): void {
    this.event({
      type,
      namespace: pod.namespace,
      kind: pod.owner.kind,
      name: pod.owner.name,
      pod: pod.name,
      ...(pod.ordinal === undefined ? {} : { ordinal: pod.ordinal }),
      ...(pod.revision === undefined ? {} : { revision: pod.revision }),
      ...extra,
    });
  }

  // ─── Workloads: shared ───────────────────────────────────────────────────────────────────────

  private newWorkload(kind: WorkloadKind, namespace: string, name: string, options: WorkloadOptions): Workload {
    const ns = this.addNamespace(namespace).ns(namespace);
    const containerName = options.container ?? name;
    const w: Workload = {
      owner: copy(options.owner ?? { manager: 'none' }),
      kind,
      name,
      namespace,
      uid: this.uid(),
      rv: '',
      generation: 1,
      replicas: options.replicas ?? 1,
      selector: { ...(options.selector ?? { app: name }) },
      template: {
        containers: [
          { name: containerName, image: options.image, env: copy([...(options.env ?? [])]), envFrom: copy([...(options.envFrom ?? [])]) },
          ...(options.extraContainers ?? []).map((c) => ({ name: c.name, image: c.image, env: [], envFrom: [] })),
        ],
        imagePullSecrets: [...(options.imagePullSecrets ?? [])],
        serviceAccountName: options.serviceAccountName,
      },
      strategy: 'RollingUpdate',
      partition: 0,
      readyAfterTicks: options.readyAfterTicks ?? this.readyAfterTicks,
      progressDeadlineSeconds: 600,
      revisions: new Map(),
      status: { observedGeneration: 1, replicas: 0, readyReplicas: 0, updatedReplicas: 0, availableReplicas: 0, currentRevision: undefined, updateRevision: undefined, conditions: [] },
      lastProgressAt: this.clock.now(),
      progressMark: '',
    };
    ns.workloads.set(`${kind}/${name}`, w);
    w.rv = this.nextRv();
    return w;
  }

  private registerRevision(w: Workload, template: Template): string {
    const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
    const revision = w.kind === 'StatefulSet' ? `${w.name}-${hash}` : hash;
    if (!w.revisions.has(revision)) w.revisions.set(revision, copy(template));
    return revision;
  }

  private seedPod(w: Workload, name: string, ordinal: number | undefined, revision: string): void {
    const pod = this.newWorkloadPod(w, name, ordinal, revision);
    pod.phase = 'Running';
    pod.ready = podTrouble(pod.images, false, this.behaviours).healthy;
    pod.createdTick = this.ticks - pod.readyAfterTicks;
  }

  private newWorkloadPod(w: Workload, name: string, ordinal: number | undefined, revision: string): Pod {
    const template = w.revisions.get(revision)!;
    const labels =
      w.kind === 'StatefulSet'
        ? { ...w.selector, 'controller-revision-hash': revision, 'statefulset.kubernetes.io/pod-name': name, 'apps.kubernetes.io/pod-index': String(ordinal) }
        : { ...w.selector, 'pod-template-hash': revision };
    return this.createPod(w.namespace, name, { kind: w.kind, name: w.name }, labels, template.containers.map((c) => c.image), {
      ordinal,
      revision,
      readyAfterTicks: w.readyAfterTicks,
    });
  }

  private ownedPods(w: Workload): Pod[] {
    return [...this.ns(w.namespace).pods.values()].filter((p) => p.owner.kind === w.kind && p.owner.name === w.name);
  }

  /** A controller's sync: a status write (only when it changed) bumps the resourceVersion. */
  private sync(w: Workload, body: () => void): void {
    const before = JSON.stringify(w.status);
    body();
    if (JSON.stringify(w.status) !== before) w.rv = this.nextRv();
  }

  private workloadState(w: Workload): WorkloadState {
    const pods = w.kind === 'StatefulSet' ? this.ownedPods(w).map(podState).sort((a, b) => (b.ordinal ?? 0) - (a.ordinal ?? 0)) : [];
    return {
      owner: copy(w.owner),
      kind: w.kind,
      name: w.name,
      namespace: w.namespace,
      uid: w.uid,
      generation: w.generation,
      observedGeneration: w.status.observedGeneration,
      replicas: w.replicas,
      statusReplicas: w.status.replicas,
      readyReplicas: w.status.readyReplicas,
      updatedReplicas: w.status.updatedReplicas,
      availableReplicas: w.status.availableReplicas,
      containers: copy(w.template.containers),
      imagePullSecrets: [...w.template.imagePullSecrets],
      serviceAccountName: w.template.serviceAccountName,
      strategy: w.strategy,
      partition: w.kind === 'StatefulSet' ? w.partition : 0,
      currentRevision: w.status.currentRevision,
      updateRevision: w.status.updateRevision,
      conditions: copy(w.status.conditions),
      selector: Object.entries(w.selector).map(([k, v]) => `${k}=${v}`).join(','),
      pods,
    };
  }

  // ─── StatefulSet controller (OrderedReady) ───────────────────────────────────────────────────

  private syncStatefulSet(w: Workload): void {
    const updateRevision = this.registerRevision(w, w.template);
    const currentRevision = w.status.currentRevision ?? updateRevision;
    w.status = { ...w.status, updateRevision, observedGeneration: w.generation };
    const byOrdinal = new Map(this.ownedPods(w).map((p) => [p.ordinal!, p]));
    let blocked = false;
    for (let ordinal = 0; ordinal < w.replicas; ordinal++) {
      const pod = byOrdinal.get(ordinal);
      if (!pod) {
        const revision = w.strategy === 'RollingUpdate' && ordinal < w.partition ? currentRevision : updateRevision;
        const created = this.newWorkloadPod(w, `${w.name}-${ordinal}`, ordinal, revision);
        this.podEvent('pod-created', created, this.podSnapshot(w));
        blocked = true;
        break;
      }
      if (pod.deletedTick !== undefined || !pod.ready) {
        blocked = true;
        break;
      }
    }
    if (!blocked && w.strategy === 'RollingUpdate') {
      for (let target = w.replicas - 1; target >= w.partition; target--) {
        const pod = byOrdinal.get(target)!;
        if (pod.revision !== updateRevision && pod.deletedTick === undefined) {
          this.podEvent('pod-update', pod, { from: pod.revision ?? '', to: updateRevision, ...this.podSnapshot(w) });
          this.markDeleting(pod, 'controller');
          break;
        }
        if (!pod.ready || pod.deletedTick !== undefined) break;
      }
    }
    this.computeStatefulSetStatus(w);
  }

  private computeStatefulSetStatus(w: Workload): void {
    const pods = this.ownedPods(w);
    const live = pods.filter((p) => p.deletedTick === undefined);
    const ready = live.filter((p) => p.ready).length;
    const updated = live.filter((p) => p.revision === w.status.updateRevision).length;
    let currentRevision = w.status.currentRevision;
    if (w.strategy === 'RollingUpdate' && updated === w.replicas && ready === w.replicas && pods.length === w.replicas) currentRevision = w.status.updateRevision;
    w.status = { ...w.status, replicas: pods.length, readyReplicas: ready, availableReplicas: ready, updatedReplicas: updated, currentRevision };
  }

  private podSnapshot(w: Workload): { readyOrdinals: number[]; pods: PodSnapshot[]; updateRevision: string } {
    const pods = this.ownedPods(w).sort((a, b) => b.ordinal! - a.ordinal!);
    return {
      readyOrdinals: pods.filter((p) => p.ready && p.deletedTick === undefined).map((p) => p.ordinal!),
      pods: pods.map((p) => ({ ordinal: p.ordinal!, revision: p.revision, ready: p.ready, deleting: p.deletedTick !== undefined })),
      updateRevision: w.status.updateRevision ?? '',
    };
  }

  // ─── Deployment controller ───────────────────────────────────────────────────────────────────

  private deploymentPodName(w: Workload, hash: string): string {
    return `${w.name}-${hash}-${suffix(++this.uidCounter)}`;
  }

  private syncDeployment(w: Workload): void {
    const hash = this.registerRevision(w, w.template);
    const now = this.clock.now();
    const templateChanged = w.status.observedGeneration < w.generation && this.ownedPods(w).some((p) => p.revision !== hash);
    w.status = { ...w.status, observedGeneration: w.generation };
    if (templateChanged) w.lastProgressAt = now;
    const live = () => this.ownedPods(w).filter((p) => p.deletedTick === undefined);
    const isNew = (p: Pod) => p.revision === hash;
    const create = (n: number) => {
      for (let i = 0; i < n; i++) this.podEvent('pod-created', this.newWorkloadPod(w, this.deploymentPodName(w, hash), undefined, hash));
    };
    if (w.strategy === 'Recreate') {
      const old = this.ownedPods(w).filter((p) => !isNew(p));
      for (const p of old) if (p.deletedTick === undefined) this.markDeleting(p, 'controller');
      if (old.length === 0) create(Math.max(0, w.replicas - live().length));
    } else {
      const maxSurge = Math.ceil(w.replicas * 0.25);
      const maxUnavailable = maxSurge === 0 && Math.floor(w.replicas * 0.25) === 0 ? 1 : Math.floor(w.replicas * 0.25);
      const pods = live();
      const newCount = pods.filter(isNew).length;
      create(Math.max(0, Math.min(w.replicas - newCount, w.replicas + maxSurge - pods.length)));
      // Scale down: unhealthy old pods first, then healthy ones while enough stay available.
      const minAvailable = w.replicas - maxUnavailable;
      const all = live();
      const newUnavailable = all.filter((p) => isNew(p) && !p.ready).length;
      let budget = all.length - minAvailable - newUnavailable;
      for (const p of all.filter((q) => !isNew(q) && !q.ready)) {
        if (budget <= 0) break;
        this.markDeleting(p, 'controller');
        budget--;
      }
      const available = live().filter((p) => p.ready).length;
      let canDown = Math.min(budget, available - minAvailable);
      for (const p of live().filter((q) => !isNew(q) && q.ready)) {
        if (canDown <= 0) break;
        this.markDeleting(p, 'controller');
        canDown--;
      }
      // Excess new pods (replicas lowered) go too.
      const extra = live().filter(isNew).length - w.replicas;
      for (const p of live().filter(isNew).slice(0, Math.max(0, extra))) this.markDeleting(p, 'controller');
    }
    this.computeDeploymentStatus(w, hash);
  }

  private computeDeploymentStatus(w: Workload, hash = this.registerRevision(w, w.template)): void {
    const now = this.clock.now();
    const live = this.ownedPods(w).filter((p) => p.deletedTick === undefined);
    const updated = live.filter((p) => p.revision === hash).length;
    const ready = live.filter((p) => p.ready).length;
    const newReady = live.filter((p) => p.revision === hash && p.ready).length;
    const mark = JSON.stringify([updated, newReady, live.length - updated]);
    if (mark !== w.progressMark) {
      w.progressMark = mark;
      w.lastProgressAt = now;
    }
    const maxUnavailable = w.strategy === 'Recreate' ? 0 : Math.max(Math.floor(w.replicas * 0.25), Math.ceil(w.replicas * 0.25) === 0 ? 1 : 0);
    const complete = updated === w.replicas && live.length === w.replicas && newReady === w.replicas;
    const rs = `ReplicaSet "${w.name}-${hash}"`;
    const progressing: Condition = complete
      ? { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `${rs} has successfully progressed.` }
      : now - w.lastProgressAt > w.progressDeadlineSeconds * 1000
        ? { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `${rs} has timed out progressing.` }
        : { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `${rs} is progressing.` };
    const available: Condition =
      ready >= w.replicas - maxUnavailable
        ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }
        : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' };
    w.status = { ...w.status, replicas: live.length, readyReplicas: ready, availableReplicas: ready, updatedReplicas: updated, conditions: [available, progressing] };
  }

  // ─── Job controller ──────────────────────────────────────────────────────────────────────────

  private storeJob(namespace: string, manifest: JobManifest): Job {
    const job: Job = {
      name: manifest.metadata.name,
      namespace,
      uid: this.uid(),
      rv: this.nextRv(),
      labels: { ...manifest.metadata.labels },
      manifest: copy(manifest),
      createdTick: this.ticks,
      startTime: undefined,
      active: 0,
      succeeded: 0,
      failed: 0,
      conditions: [],
      deletedTick: undefined,
    };
    this.ns(namespace).jobs.set(job.name, job);
    this.event({ type: 'job-created', namespace, kind: 'Job', name: job.name });
    return job;
  }

  private jobPods(ns: Namespace, job: Job): Pod[] {
    return [...ns.pods.values()].filter((p) => p.owner.kind === 'Job' && p.labels['controller-uid'] === job.uid);
  }

  private jobStartPod(job: Job): Pod {
    job.startTime ??= this.clock.now();
    const labels = {
      ...job.manifest.spec.template.metadata.labels,
      'job-name': job.name,
      'batch.kubernetes.io/job-name': job.name,
      'controller-uid': job.uid,
      'batch.kubernetes.io/controller-uid': job.uid,
    };
    const images = job.manifest.spec.template.spec.containers.map((c) => c.image);
    const nodeName = job.manifest.spec.template.spec.nodeName;
    return this.createPod(job.namespace, `${job.name}-${suffix(++this.uidCounter)}`, { kind: 'Job', name: job.name }, labels, images, nodeName ? { node: nodeName } : {});
  }

  private syncJob(ns: Namespace, job: Job): void {
    if (job.deletedTick !== undefined) {
      if (this.ticks - job.deletedTick >= this.jobDeletionTicks) {
        ns.jobs.delete(job.name);
        this.nextRv();
      }
      return;
    }
    if (job.conditions.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')) return;
    const before = JSON.stringify([job.active, job.succeeded, job.failed, job.conditions, job.startTime]);
    const deadline = job.manifest.spec.activeDeadlineSeconds;
    let active = this.jobPods(ns, job).filter((p) => p.deletedTick === undefined && (p.phase === 'Pending' || p.phase === 'Running'));
    if (job.startTime !== undefined && deadline > 0 && this.clock.now() - job.startTime >= deadline * 1000) {
      for (const p of active) this.markDeleting(p, 'controller');
      job.failed += active.length;
      this.jobFinish(job, 'failed', 'DeadlineExceeded');
    } else if (active.length === 0) {
      active = [this.jobStartPod(job)];
    } else {
      const pod = active[0]!;
      // A Job pod that cannot start (pull, config) never finishes; one that exits non-zero fails.
      const trouble = podTrouble(pod.images, true, this.behaviours);
      if (trouble.waiting === undefined && this.ticks - pod.createdTick >= Math.max(1, this.jobTicks - 1)) {
        this.jobFinish(job, trouble.fails ? 'failed' : 'succeeded', 'BackoffLimitExceeded');
      }
    }
    if (!job.conditions.length) job.active = active.length;
    if (JSON.stringify([job.active, job.succeeded, job.failed, job.conditions, job.startTime]) !== before) job.rv = this.nextRv();
  }

  /** What PeerDB's maintenance workflows do when their Job succeeds. */
  private maintenanceWorkflow(job: Job): void {
    const container = job.manifest.spec.template.spec.containers[0];
    if (!container?.image.includes('/flow-maintenance:')) return;
    const args = container.args ?? [];
    const mode = args[args.indexOf('--run-maintenance-flow') + 1];
    const p = this.peerdb(job.namespace);
    if (mode === 'start') {
      p.maintenance = true;
      for (const [name, status] of p.mirrors) {
        if (status !== 'STATUS_RUNNING') continue;
        p.mirrors.set(name, 'STATUS_PAUSED');
        if (!p.recorded.includes(name)) p.recorded.push(name);
      }
    } else if (mode === 'end') {
      for (const name of p.recorded) if (!p.failsToResume.has(name) && p.mirrors.get(name) === 'STATUS_PAUSED') p.mirrors.set(name, 'STATUS_RUNNING');
      p.recorded = [];
      p.maintenance = false;
    }
  }

  private jobFinish(job: Job, outcome: 'succeeded' | 'failed', reason: 'BackoffLimitExceeded' | 'DeadlineExceeded'): void {
    const ns = this.ns(job.namespace);
    const running = this.jobPods(ns, job).filter((p) => p.deletedTick === undefined && (p.phase === 'Pending' || p.phase === 'Running'));
    job.active = 0;
    if (outcome === 'succeeded') {
      for (const p of running) Object.assign(p, { phase: 'Succeeded', ready: false, waitingReason: undefined, waitingMessage: undefined });
      this.maintenanceWorkflow(job);
      job.succeeded = 1;
      job.conditions = [
        { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' },
        { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' },
      ];
      this.event({ type: 'job-succeeded', namespace: job.namespace, kind: 'Job', name: job.name });
    } else {
      const message = reason === 'DeadlineExceeded' ? 'Job was active longer than specified deadline' : 'Job has reached the specified backoff limit';
      if (reason === 'BackoffLimitExceeded') {
        for (const p of running) Object.assign(p, { phase: 'Failed', ready: false, waitingReason: undefined, waitingMessage: undefined });
        // Each retry was a new pod (restartPolicy Never) that failed too.
        for (let i = 0; i < job.manifest.spec.backoffLimit; i++) Object.assign(this.jobStartPod(job), { phase: 'Failed' });
        job.failed = job.manifest.spec.backoffLimit + 1;
      }
      job.conditions = [
        { type: 'FailureTarget', status: 'True', reason, message },
        { type: 'Failed', status: 'True', reason, message },
      ];
      this.event({ type: 'job-failed', namespace: job.namespace, kind: 'Job', name: job.name, reason });
    }
    job.rv = this.nextRv();
  }

  private jobState(job: Job): JobState {
    return {
      name: job.name,
      uid: job.uid,
      labels: { ...job.labels },
      active: job.active,
      succeeded: job.succeeded,
      failed: job.failed,
      conditions: copy(job.conditions),
      deleting: job.deletedTick !== undefined,
    };
  }

  // ─── ConfigMap and Lease views ───────────────────────────────────────────────────────────────

  private configMapState(namespace: string, name: string): ConfigMapState | undefined {
    const cm = this.namespaces.get(namespace)?.configMaps.get(name);
    return cm && { name, resourceVersion: cm.rv, data: { ...cm.data }, labels: { ...cm.labels } };
  }

  private leaseState(namespace: string, name: string): LeaseState | undefined {
    const lease = this.namespaces.get(namespace)?.leases.get(name);
    return lease && toLeaseState(name, lease);
  }
}

// ─── Helpers ─────────────────────────────────────────────────────────────────────────────────────

function key(ref: WorkloadRef): string {
  return `${ref.kind}/${ref.name}`;
}

/** A get of a missing object is undefined, a delete of one a no-op: what the adapter makes of a 404. */
function absent(error: ClusterError): { value: undefined } | undefined {
  return error.kind === 'not-found' ? { value: undefined } : undefined;
}

function notFound(what: string): ClusterError {
  return new ClusterError('not-found', `not found: ${what}`, { status: 404 });
}

function alreadyExists(what: string): ClusterError {
  return new ClusterError('already-exists', `already exists: ${what}`, { status: 409 });
}

function conflict(what: string): ClusterError {
  return new ClusterError('conflict', `conflict: ${what} changed since it was read`, { status: 409 });
}


function withImage(template: Template, container: string, image: string): Template {
  const next = copy(template);
  next.containers = next.containers.map((c) => (c.name === container ? { ...c, image } : c));
  return next;
}

/**
 * What the kubelet shows for a pod of these images, by their markers (markers.ts): the reason it
 * waits for (cannot pull, cannot configure; a long-running pod that exits crash-loops), whether it
 * never gets Ready, and (Job pods, which are not restarted) whether it fails.
 */
function podTrouble(
  images: readonly string[],
  job: boolean,
  behaviourOfImage: (image: string) => Behaviour | undefined,
): { waiting: 'ImagePullBackOff' | 'CreateContainerConfigError' | 'CrashLoopBackOff' | undefined; neverReady: boolean; fails: boolean; healthy: boolean } {
  const behaviours = images.map(behaviourOfImage);
  const failing = behaviours.some((b) => b === 'crashloop' || b === 'oomkill' || b === 'fail');
  const waiting = behaviours.includes('badimage') ? 'ImagePullBackOff' : behaviours.includes('configerror') ? 'CreateContainerConfigError' : failing && !job ? 'CrashLoopBackOff' : undefined;
  const neverReady = behaviours.includes('notready');
  return { waiting, neverReady, fails: failing, healthy: waiting === undefined && !neverReady && !failing };
}

function podState(pod: Pod): PodState {
  return {
    name: pod.name,
    uid: pod.uid,
    ordinal: pod.ordinal,
    revision: pod.revision,
    ready: pod.ready,
    phase: pod.phase,
    deleting: pod.deletedTick !== undefined,
    waitingReason: pod.waitingReason,
    waitingMessage: pod.waitingMessage,
    restartCount: pod.restartCount,
    node: pod.node,
    images: [...pod.images],
  };
}

function toLeaseState(name: string, lease: StoredLease): LeaseState {
  return {
    name,
    resourceVersion: lease.rv,
    holderIdentity: lease.holderIdentity,
    leaseDurationSeconds: lease.leaseDurationSeconds,
    acquireTime: lease.acquireTime,
    renewTime: lease.renewTime,
    annotations: { ...lease.annotations },
  };
}

/** Lease times come back from the API server as MicroTime: RFC 3339 with six fraction digits. */
function microTime(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new ClusterError('bad-request', `request refused (400): "${value}" is not an RFC 3339 time`, { status: 400 });
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** A deep copy of plain data; anything else (an AbortSignal) is kept by reference. */
function copy<T>(value: T): T {
  if (Array.isArray(value)) return value.map(copy) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copy(v)])) as T;
  }
  return value;
}

function suffix(n: number): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let s = '';
  for (let i = 0, v = n * 7919 + 104729; i < 5; i++, v = Math.floor(v / alphabet.length)) s += alphabet[v % alphabet.length];
  return s;
}

export { parseSelector } from './api-rules.js';
