/**
 * What the in-memory fake (memory-cluster.ts) stores, and the counters every part of it shares: one
 * global resourceVersion (like etcd), the uid counter that also names generated pods, the tick
 * count, the clock, and the history of events a test asserts on. The controllers, the kubelet and
 * the API handlers (the other modules of fakes/) read and write this state; nothing else does.
 */
import type { ClusterEvent, MemoryClusterOptions } from './cluster-events.js';
import type { FakePeerDB } from './fake-peerdb.js';
import { FakeClock } from './fake-clock.js';
import { ClusterError } from '../../../src/cluster/cluster-error.js';
import { behaviourOf, type Behaviour } from './markers.js';
import type { JobCondition } from '../../../src/cluster/port.js';
import type { ContainerState, JobManifest, WorkloadKind } from '../../../src/cluster/types.js';
import type { WorkloadOwner } from '../../../src/cluster/workload-owner.js';

export interface Template {
  containers: ContainerState[];
  imagePullSecrets: string[];
  serviceAccountName: string | undefined;
}

export type Condition = { type: string; status: string; reason?: string; message?: string };

/** A Deployment or a StatefulSet: spec, controller status, and the revisions it has had. */
export interface Workload {
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
  /** The peerdb-upgrade user-partition annotation (ANNOTATION_PARTITION), when set. */
  userPartition?: number | undefined;
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

export interface Pod {
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
  /** Its state was forced by setPod(): the kubelet leaves it alone. */
  pinned: boolean;
}

export interface Job {
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
  /** Its pods decided the outcome at this tick; the conditions follow jobConditionLagTicks later. */
  ended: { tick: number; outcome: 'succeeded' | 'failed' } | undefined;
}

export interface StoredConfigMap {
  rv: string;
  data: Record<string, string>;
  labels: Record<string, string>;
}

export interface StoredLease {
  rv: string;
  holderIdentity: string | undefined;
  leaseDurationSeconds: number | undefined;
  acquireTime: string | undefined;
  renewTime: string | undefined;
  annotations: Record<string, string>;
  labels: Record<string, string>;
}

export interface Namespace {
  /** By `Kind/name`. */
  workloads: Map<string, Workload>;
  pods: Map<string, Pod>;
  jobs: Map<string, Job>;
  configMaps: Map<string, StoredConfigMap>;
  leases: Map<string, StoredLease>;
}

export type CreatedKind = 'Job' | 'ConfigMap' | 'Lease';

export class ClusterState {
  readonly clock: FakeClock;
  /** Ticks a new pod takes to become Ready, unless its workload says otherwise. */
  readonly readyAfterTicks: number;
  /** Ticks from a Job's creation to its end (at least 2: a pod must exist for a tick). */
  readonly jobTicks: number;
  /** Ticks a deleted Job stays visible with deleting: true. */
  readonly jobDeletionTicks: number;
  /** Ticks from the pod that decides a Job's outcome ending to the controller's condition. */
  readonly jobConditionLagTicks: number;
  readonly tickMs: number;
  readonly maxTicks: number;

  readonly namespaces = new Map<string, Namespace>();
  readonly events: ClusterEvent[] = [];
  /** Successful (not dry-run) creations per kind and object name. */
  readonly createdCounts: Record<CreatedKind, Map<string, number>> = { Job: new Map(), ConfigMap: new Map(), Lease: new Map() };
  /** PeerDB per namespace (fake-peerdb.ts). */
  readonly peerdbs = new Map<string, FakePeerDB>();
  /** Behaviours set by image with MemoryCluster.misbehave(), over the markers of the tag. */
  readonly imageBehaviours = new Map<string, Behaviour>();

  rvCounter = 1000;
  uidCounter = 0;
  ticks = 0;

  constructor(options: MemoryClusterOptions) {
    this.clock = options.clock ?? new FakeClock();
    this.readyAfterTicks = options.readyAfterTicks ?? 1;
    this.jobTicks = Math.max(2, options.jobTicks ?? 2);
    this.jobDeletionTicks = options.jobDeletionTicks ?? 0;
    this.jobConditionLagTicks = options.jobConditionLagTicks ?? 0;
    this.tickMs = options.tickMs ?? 1000;
    this.maxTicks = options.maxTicks ?? 200_000;
  }

  addNamespace(namespace: string): Namespace {
    let ns = this.namespaces.get(namespace);
    if (!ns) {
      ns = { workloads: new Map(), pods: new Map(), jobs: new Map(), configMaps: new Map(), leases: new Map() };
      this.namespaces.set(namespace, ns);
    }
    return ns;
  }

  /** A namespace the test set up; a missing one is a mistake in the test. */
  ns(namespace: string): Namespace {
    const ns = this.namespaces.get(namespace);
    if (!ns) throw new Error(`MemoryCluster: no namespace ${namespace}`);
    return ns;
  }

  /** A namespace a request writes into; a missing one is the API server's 404. */
  existingNamespace(namespace: string, what: string): Namespace {
    const ns = this.namespaces.get(namespace);
    if (!ns) throw new ClusterError('not-found', `not found: ${what} (namespaces "${namespace}" not found)`, { status: 404 });
    return ns;
  }

  nextRv(): string {
    return String(++this.rvCounter);
  }

  uid(): string {
    return `uid-${String(++this.uidCounter).padStart(6, '0')}`;
  }

  /** The random-looking suffix of a generated name (`name-xxxxx`), from the same counter as uids. */
  nameSuffix(): string {
    return suffix(++this.uidCounter);
  }

  count(kind: CreatedKind, name: string): void {
    this.createdCounts[kind].set(name, (this.createdCounts[kind].get(name) ?? 0) + 1);
  }

  event(e: Omit<ClusterEvent, 'at' | 'tick'>): void {
    this.events.push({ at: this.clock.now(), tick: this.ticks, ...e });
  }

  /** An image's behaviour: as told by misbehave(), else by the marker in its tag. */
  readonly behaviourOf = (image: string): Behaviour | undefined => this.imageBehaviours.get(image) ?? behaviourOf(image);
}

/** A deep copy of plain data; anything else (an AbortSignal) is kept by reference. */
export function copy<T>(value: T): T {
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
