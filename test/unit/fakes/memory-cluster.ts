/**
 * MemoryCluster: an in-memory ClusterPort that behaves like Kubernetes where an upgrade executor can
 * get it wrong, on simulated time. This module puts the parts together; each concern is its own
 * module of fakes/:
 *
 * - cluster-state.ts: the stored objects and the shared counters: one global resourceVersion (like
 *   etcd), bumped by every write that changes something, controller status writes included;
 *   `generation` bumps on spec changes only;
 * - simulation.ts: ticks (kubelet, then the controllers) and how clock time runs them;
 * - pods.ts: pods and the kubelet; markers.ts: images that misbehave by a marker in their tag,
 *   the one table the Go simulator of the e2e control plane shares;
 * - workload-objects.ts, statefulsets.ts, deployments.ts: workloads, the StatefulSet controller
 *   (OrderedReady), the Deployment controller with its ReplicaSets;
 * - jobs.ts: Jobs and the Job controller; fake-peerdb.ts: PeerDB's mirrors, maintenance and flow-api;
 * - config-objects.ts: ConfigMaps and Leases;
 * - access.ts: RBAC denials; port-calls.ts: the record of every call and injected faults;
 * - api-rules.ts: the API server's validation and answers; fake-clock.ts: the clock.
 *
 * Errors mirror the adapter (src/cluster/kube-adapter.ts): a get of a missing object is undefined, a
 * delete of one is a no-op, jobLogTail and waitForChange never throw a ClusterError.
 */
import { Access } from './access.js';
import { absent, parseSelector } from './api-rules.js';
import type { ClusterEvent, MemoryClusterOptions } from './cluster-events.js';
import { ClusterState, copy } from './cluster-state.js';
import { configMapState, deleteLease, leaseState, seedConfigMap, seedLease, writeConfigMap, writeLease, type ConfigMapContent } from './config-objects.js';
import { seedDeployment, type DeploymentOptions } from './deployments.js';
import type { FakeClock } from './fake-clock.js';
import { flowApi, peerdbOf, type FakePeerDB } from './fake-peerdb.js';
import { helmWorkloads } from './helm-chart.js';
import { addJobPod, createJob, deleteJob, jobLogTail, jobState, seedJob } from './jobs.js';
import type { Behaviour } from './markers.js';
import { markDeleting, podState, podsMatching } from './pods.js';
import { PortCalls, type CallRecord, type FaultOptions, type FaultRule, type PortMethod } from './port-calls.js';
import { Simulation } from './simulation.js';
import { seedStatefulSet, type StatefulSetOptions } from './statefulsets.js';
import { patchWorkload, peekWorkload, PLURAL } from './workload-objects.js';
import type { ClusterError } from '../../../src/cluster/cluster-error.js';
import type { HelmReleaseRead, HelmReleaseState } from '../../../src/cluster/helm-release.js';
import type {
  AccessCheck,
  ClusterPort,
  ClusterTarget,
  ConfigMapState,
  JobState,
  LeaseSpec,
  LeaseState,
  PodHttpRequest,
  PodHttpResponse,
  PodHttpSend,
  WatchKind,
  WatchSpec,
  WorkloadPatch,
  WriteOptions,
} from '../../../src/cluster/port.js';
import type { JobManifest, PodState, WorkloadRef, WorkloadState } from '../../../src/cluster/types.js';
import type { WorkloadOwner } from '../../../src/cluster/workload-owner.js';

export { FakeClock } from './fake-clock.js';
export { parseSelector } from './api-rules.js';
export { fault, type CallRecord, type PortMethod } from './port-calls.js';
export type { ClusterEvent, EventType, MemoryClusterOptions, PodSnapshot } from './cluster-events.js';
export type { DeploymentOptions } from './deployments.js';
export type { FakePeerDB } from './fake-peerdb.js';
export type { StatefulSetOptions } from './statefulsets.js';

export interface PodOverride {
  ready?: boolean;
  phase?: string;
  waitingReason?: string | undefined;
  waitingMessage?: string | undefined;
  restartCount?: number;
}

export class MemoryCluster implements ClusterPort {
  readonly target: ClusterTarget = { context: 'memory', server: 'memory://', namespace: 'default', user: 'tester' };
  readonly clock: FakeClock;
  /** Every port call, in order, with its arguments (copied) and the error kind if it failed. */
  readonly calls: CallRecord[];
  readonly events: ClusterEvent[];
  /** Port-forwards opened: podHttp exchanges that sent at least one request. */
  portForwards = 0;
  /** Log text per Job name, returned (tailed) by jobLogTail. */
  readonly jobLogs = new Map<string, string>();

  private readonly state: ClusterState;
  private readonly simulation: Simulation;
  private readonly portCalls: PortCalls;
  private readonly access = new Access(this.target.user);
  private readonly helmReleases = new Map<string, HelmReleaseState>();

  constructor(options: MemoryClusterOptions = {}) {
    this.state = new ClusterState(options);
    this.clock = this.state.clock;
    this.events = this.state.events;
    this.portCalls = new PortCalls(this.state);
    this.calls = this.portCalls.calls;
    for (const ns of ['default', ...(options.namespaces ?? [])]) this.addNamespace(ns);
    this.simulation = new Simulation(this.state);
  }

  /** The number of ticks run so far. */
  get tickCount(): number {
    return this.state.ticks;
  }

  /** The newest resourceVersion handed out. */
  get resourceVersion(): string {
    return String(this.state.rvCounter);
  }

  // ─── Seeding ─────────────────────────────────────────────────────────────────────────────────

  addNamespace(namespace: string): this {
    this.state.addNamespace(namespace);
    return this;
  }

  addDeployment(namespace: string, name: string, options: DeploymentOptions): this {
    seedDeployment(this.state, namespace, name, options);
    return this;
  }

  addStatefulSet(namespace: string, name: string, options: StatefulSetOptions): this {
    seedStatefulSet(this.state, namespace, name, options);
    return this;
  }

  /** The PeerDB Helm chart's five workloads at `version` (helm-chart.ts), all Ready. */
  seedHelm(namespace: string, version: string, options: { snapshotReplicas?: number; owner?: WorkloadOwner } = {}): this {
    for (const w of helmWorkloads(version, options.snapshotReplicas ?? 3)) {
      const seed = { ...(options.owner ? { owner: options.owner } : {}), image: w.image, replicas: w.replicas, env: w.env, envFrom: w.envFrom, imagePullSecrets: w.imagePullSecrets };
      if (w.kind === 'StatefulSet') this.addStatefulSet(namespace, w.name, seed);
      else this.addDeployment(namespace, w.name, seed);
    }
    return this;
  }

  addConfigMap(namespace: string, name: string, data: Record<string, string>, labels: Record<string, string> = {}): ConfigMapState {
    return seedConfigMap(this.state, namespace, name, { data, labels });
  }

  addLease(namespace: string, name: string, spec: Partial<LeaseSpec>): LeaseState {
    return seedLease(this.state, namespace, name, spec);
  }

  /**
   * A pod the Job controller made for a Job named `jobName` whose uid is `controllerUid` (labels
   * job-name and controller-uid), in `phase`: e.g. one of an older Job of that name that garbage
   * collection has not removed yet.
   */
  addJobPod(namespace: string, jobName: string, controllerUid: string, phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed'): PodState {
    return podState(addJobPod(this.state, namespace, jobName, controllerUid, phase));
  }

  /** A Job as a previous run left it (not logged as a call, not counted by created()). */
  addJob(namespace: string, manifest: JobManifest, outcome: 'running' | 'succeeded' | 'failed' = 'running'): JobState {
    return jobState(seedJob(this.state, namespace, manifest, outcome));
  }

  /** Seeds a Helm release record (what Helm 3 keeps in a `sh.helm.release.v1.*` Secret). */
  addHelmRelease(release: HelmReleaseState): this {
    this.helmReleases.set(`${release.namespace}/${release.name}`, copy(release));
    return this;
  }

  // ─── Failure injection, misbehaviour and access ──────────────────────────────────────────────

  /**
   * The next `times` calls of `method` throw `error`. With `applied: true` the call takes effect first
   * and then throws, like a response lost on the way back.
   */
  failNext(method: PortMethod, error: ClusterError, options: FaultOptions = {}): this {
    this.portCalls.inject((call) => (call.method === method ? error : undefined), { times: options.times ?? 1, applied: options.applied ?? false });
    return this;
  }

  /** Calls for which `fn` returns an error throw it (until the returned function is called). */
  inject(fn: FaultRule, options: FaultOptions = {}): () => void {
    return this.portCalls.inject(fn, options);
  }

  /**
   * Makes every container of `image` behave as a marker says (markers.ts), whatever its tag: the
   * fake's counterpart of the Go simulator's per-pod annotation and SIM_BEHAVIOR env, which a
   * workload the tool rolls cannot carry on its new image alone.
   */
  misbehave(image: string, behaviour: Behaviour): this {
    this.state.imageBehaviours.set(image, behaviour);
    return this;
  }

  /** PeerDB as flow-api shows it in the namespace (fake-peerdb.ts); a test sets its mirrors. */
  peerdb(namespace: string): FakePeerDB {
    return peerdbOf(this.state, namespace);
  }

  /** RBAC says no: deniedAccess reports it and the matching calls fail with forbidden. `resource` may be `pods/log`. */
  deny(verb: string, resource: string, options: { group?: string } = {}): this {
    this.access.deny(verb, resource, options.group);
    return this;
  }

  // ─── Simulation ──────────────────────────────────────────────────────────────────────────────

  /** Runs the kubelet and the controllers `n` times; the clock does not move. */
  tick(n = 1): void {
    this.simulation.tick(n);
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
    return this.simulation.settle(maxTicks);
  }

  /** Forces a pod's observed state; the kubelet leaves it alone afterwards. */
  setPod(namespace: string, podName: string, override: PodOverride): void {
    const pod = this.state.ns(namespace).pods.get(podName);
    if (!pod) throw new Error(`MemoryCluster.setPod: no pod ${namespace}/${podName}`);
    Object.assign(pod, override, { pinned: true });
    this.state.nextRv();
  }

  /** Another writer changes the ConfigMap: its resourceVersion moves on. */
  touchConfigMap(namespace: string, name: string, data?: Record<string, string>): ConfigMapState {
    const cm = this.state.ns(namespace).configMaps.get(name);
    if (!cm) throw new Error(`MemoryCluster.touchConfigMap: no ConfigMap ${namespace}/${name}`);
    if (data) cm.data = { ...data };
    cm.rv = this.state.nextRv();
    return configMapState(this.state, namespace, name)!;
  }

  /** Someone deletes the ConfigMap (kubectl delete, a namespace clean-up): it is gone without a trace. */
  loseConfigMap(namespace: string, name: string): void {
    if (!this.state.ns(namespace).configMaps.delete(name)) throw new Error(`MemoryCluster.loseConfigMap: no ConfigMap ${namespace}/${name}`);
    this.state.nextRv();
  }

  // ─── Inspection (not logged) ─────────────────────────────────────────────────────────────────

  /** Successful (not dry-run) creations per object name. */
  created(kind: 'Job' | 'ConfigMap' | 'Lease'): Record<string, number> {
    return Object.fromEntries(this.state.createdCounts[kind]);
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
    return peekWorkload(this.state, namespace, ref);
  }

  peekPods(namespace: string, labelSelector = ''): PodState[] {
    return podsMatching(this.state, namespace, labelSelector);
  }

  peekJob(namespace: string, name: string): JobState | undefined {
    const job = this.state.namespaces.get(namespace)?.jobs.get(name);
    return job && jobState(job);
  }

  peekConfigMap(namespace: string, name: string): ConfigMapState | undefined {
    return configMapState(this.state, namespace, name);
  }

  peekLease(namespace: string, name: string): LeaseState | undefined {
    return leaseState(this.state, namespace, name);
  }

  // ─── ClusterPort: each call recorded, authorized as the adapter's request would be, then done ──

  getWorkload(namespace: string, ref: WorkloadRef, options: { podName?: string } = {}): Promise<WorkloadState | undefined> {
    return this.call('getWorkload', [namespace, ref, options], () => {
      this.access.authorize(namespace, 'get', PLURAL[ref.kind], 'apps');
      if (ref.kind === 'StatefulSet') this.access.authorize(namespace, 'list', 'pods', '');
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

  /** Namespaces the executor asked to keep in watch-fed caches; reads stay as they are. */
  readonly watchedNamespaces = new Set<string>();

  watchNamespace(namespace: string): void {
    this.watchedNamespaces.add(namespace);
  }

  /** Times the port was closed (the CLI closes every port it opened when a command ends). */
  closed = 0;

  close(): void {
    this.closed++;
  }

  listWorkloads(namespace: string): Promise<readonly WorkloadState[] | 'forbidden'> {
    return this.call('listWorkloads', [namespace], () => {
      if (this.access.isDenied('list', 'deployments', 'apps', undefined) || this.access.isDenied('list', 'statefulsets', 'apps', undefined)) return 'forbidden' as const;
      const refs = [...(this.state.namespaces.get(namespace)?.workloads.values() ?? [])].map((w) => ({ kind: w.kind, name: w.name }));
      return refs.map((ref) => ({ ...this.peekWorkload(namespace, ref)!, pods: [] }));
    });
  }

  patchWorkload(namespace: string, ref: WorkloadRef, patch: WorkloadPatch, options: WriteOptions = {}): Promise<void> {
    return this.call('patchWorkload', [namespace, ref, patch, options], () => {
      this.access.authorize(namespace, 'patch', PLURAL[ref.kind], 'apps');
      patchWorkload(this.state, namespace, ref, patch, options);
    });
  }

  listPods(namespace: string, labelSelector: string): Promise<readonly PodState[]> {
    return this.call('listPods', [namespace, labelSelector], () => {
      this.access.authorize(namespace, 'list', 'pods', '');
      return this.peekPods(namespace, labelSelector);
    });
  }

  deletePod(namespace: string, name: string, options: WriteOptions = {}): Promise<void> {
    return this.call('deletePod', [namespace, name, options], () => {
      this.access.authorize(namespace, 'delete', 'pods', '');
      const pod = this.state.namespaces.get(namespace)?.pods.get(name);
      if (!pod || options.dryRun || pod.deletedTick !== undefined) return;
      markDeleting(this.state, pod, 'api');
    }, absent);
  }

  getJob(namespace: string, name: string): Promise<JobState | undefined> {
    return this.call('getJob', [namespace, name], () => {
      this.access.authorize(namespace, 'get', 'jobs', 'batch');
      return this.peekJob(namespace, name);
    }, absent);
  }

  listJobs(namespace: string, labelSelector: string): Promise<readonly JobState[]> {
    return this.call('listJobs', [namespace, labelSelector], () => {
      this.access.authorize(namespace, 'list', 'jobs', 'batch');
      const match = parseSelector(labelSelector);
      return [...(this.state.namespaces.get(namespace)?.jobs.values() ?? [])].filter((j) => match(j.labels)).map(jobState);
    });
  }

  createJob(namespace: string, manifest: JobManifest, options: WriteOptions = {}): Promise<JobState> {
    return this.call('createJob', [namespace, manifest, options], () => {
      this.access.authorize(namespace, 'create', 'jobs', 'batch');
      return createJob(this.state, namespace, manifest, options);
    });
  }

  deleteJob(namespace: string, name: string, options: WriteOptions = {}): Promise<void> {
    return this.call('deleteJob', [namespace, name, options], () => {
      this.access.authorize(namespace, 'delete', 'jobs', 'batch');
      deleteJob(this.state, namespace, name, options);
    }, absent);
  }

  jobLogTail(namespace: string, jobName: string, lines: number): Promise<string | undefined> {
    return this.call('jobLogTail', [namespace, jobName, lines], () => {
      this.access.authorize(namespace, 'list', 'pods', '');
      this.access.authorize(namespace, 'get', 'pods', '', 'log');
      return jobLogTail(this.state, this.jobLogs, namespace, jobName, lines);
    }, () => ({ value: undefined }));
  }

  listJobPods(namespace: string, jobName: string): Promise<readonly PodState[]> {
    return this.call('listJobPods', [namespace, jobName], () => {
      this.access.authorize(namespace, 'list', 'pods', '');
      return this.peekPods(namespace, `job-name=${jobName}`);
    });
  }

  readHelmRelease(namespace: string, release: string): Promise<HelmReleaseRead> {
    return this.call('readHelmRelease', [namespace, release], () => {
      if (this.access.isDenied('list', 'secrets', '', undefined)) return { outcome: 'forbidden' as const, detail: `not allowed to list secrets in namespace ${namespace}` };
      const found = this.helmReleases.get(`${namespace}/${release}`);
      return found ? { outcome: 'read' as const, release: copy(found) } : { outcome: 'not-found' as const, detail: `no Secret labelled owner=helm,name=${release} in namespace ${namespace}` };
    });
  }

  getConfigMap(namespace: string, name: string): Promise<ConfigMapState | undefined> {
    return this.call('getConfigMap', [namespace, name], () => {
      this.access.authorize(namespace, 'get', 'configmaps', '');
      return configMapState(this.state, namespace, name);
    }, absent);
  }

  writeConfigMap(namespace: string, name: string, content: ConfigMapContent, resourceVersion: string | undefined, options: WriteOptions = {}): Promise<ConfigMapState> {
    return this.call('writeConfigMap', [namespace, name, content, resourceVersion, options], () => {
      this.access.authorize(namespace, resourceVersion ? 'update' : 'create', 'configmaps', '');
      return writeConfigMap(this.state, namespace, name, content, resourceVersion, options);
    });
  }

  getLease(namespace: string, name: string): Promise<LeaseState | undefined> {
    return this.call('getLease', [namespace, name], () => {
      this.access.authorize(namespace, 'get', 'leases', 'coordination.k8s.io');
      return leaseState(this.state, namespace, name);
    }, absent);
  }

  writeLease(namespace: string, name: string, lease: LeaseSpec, resourceVersion: string | undefined, options: WriteOptions = {}): Promise<LeaseState> {
    return this.call('writeLease', [namespace, name, lease, resourceVersion, options], () => {
      this.access.authorize(namespace, resourceVersion ? 'update' : 'create', 'leases', 'coordination.k8s.io');
      return writeLease(this.state, namespace, name, lease, resourceVersion, options);
    });
  }

  deleteLease(namespace: string, name: string, resourceVersion: string | undefined, options: WriteOptions = {}): Promise<void> {
    return this.call('deleteLease', [namespace, name, resourceVersion, options], () => {
      this.access.authorize(namespace, 'delete', 'leases', 'coordination.k8s.io');
      deleteLease(this.state, namespace, name, resourceVersion, options);
    }, absent);
  }

  /** Each request is its own recorded call (podHttp, args [namespace, pod, port, request]); portForwards counts the exchanges that sent one. */
  async podHttp<T>(namespace: string, pod: string, port: number, exchange: (send: PodHttpSend) => Promise<T>): Promise<T> {
    let opened = false;
    return exchange((request: PodHttpRequest): Promise<PodHttpResponse> => {
      if (!opened) {
        opened = true;
        this.portForwards++;
      }
      return this.call('podHttp', [namespace, pod, port, request], () => {
        this.access.authorize(namespace, 'create', 'pods', '', 'portforward');
        return flowApi(this.state, namespace, pod, port, request);
      });
    });
  }

  deniedAccess(namespace: string, checks: readonly AccessCheck[]): Promise<readonly AccessCheck[]> {
    return this.call('deniedAccess', [namespace, checks], () => this.access.denied(checks));
  }

  /** Moves the simulation on by min(timeoutMs, tickMs) of clock time (at least one tick), then resolves. */
  async waitForChange(namespace: string, kind: WatchKind, selector: { labelSelector?: string; fieldSelector?: string }, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await this.call('waitForChange', [namespace, kind, selector, timeoutMs], () => undefined, () => ({ value: undefined }));
    await this.simulation.waitForChange(timeoutMs, signal);
  }

  /** As waitForChange (one call recorded, args [namespace, watches, timeoutMs]): the simulation moves on once, whatever the number of watches. */
  async waitForAnyChange(namespace: string, watches: readonly WatchSpec[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await this.call('waitForAnyChange', [namespace, watches, timeoutMs], () => undefined, () => ({ value: undefined }));
    await this.simulation.waitForChange(timeoutMs, signal);
  }

  private call<T>(method: PortMethod, args: readonly unknown[], body: () => T, absorb?: (error: ClusterError) => { value: T } | undefined): Promise<T> {
    return this.portCalls.run(method, args, body, absorb);
  }
}
