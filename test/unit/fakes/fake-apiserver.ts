/**
 * A tiny Kubernetes API server on loopback for adapter-level tests: one namespace, one StatefulSet
 * with N pods, and a StatefulSet controller that is just enough for a partitioned roll. It serves
 * GET/LIST/WATCH of the StatefulSet and of pods (label and metadata.name field selectors, watches
 * from a resourceVersion, 410 Gone for one that is too old), strategic PATCH of image and
 * partition, and counts what it sends: requests by verb and pod objects (in LISTs, GETs and watch
 * events), so that a test can say how much work a step costs at 10 and at 1000 replicas.
 *
 * With `jobs`, it also serves Jobs (GET/LIST/WATCH, POST) and plays a Job controller that is just
 * enough for one Job step: a pod labelled with the Job's uid, Running, then Succeeded; the Job's
 * Complete condition follows only after `completeAfterMs` (never when unset), as the real
 * controller's lags behind its pod.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { connectKube, type KubeCluster } from '../../../src/cluster/kube-adapter.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const NS = 'peerdb';
export const STS = 'flow-snapshot-worker';
export const OLD_IMAGE = 'ghcr.io/peerdb-io/flow-snapshot-worker:stable-v0.36.7';
export const NEW_IMAGE = 'ghcr.io/peerdb-io/flow-snapshot-worker:stable-v0.37.4';
const LABELS = { 'app.kubernetes.io/name': STS };
const STS_UID = 'sts-uid';

type Kind = 'pods' | 'statefulsets' | 'jobs';

interface Event {
  readonly kind: Kind;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: Json;
  readonly rv: number;
}

interface Watcher {
  readonly kind: Kind;
  readonly match: (obj: Json) => boolean;
  readonly res: ServerResponse;
}

export interface FakeApiServer {
  readonly kubeconfig: string;
  /** Requests by verb (get, list, watch, patch, …). */
  readonly requests: Record<string, number>;
  /** Pod objects sent, in responses and watch events. */
  podsSent: number;
  /** Every request since the last reset: verb and path. */
  readonly log: { verb: string; path: string }[];
  /** Every watch stream from now on is refused with 410 Gone once (the informer must re-list). */
  expireWatches(): void;
  /** Closes every open watch (as an API server restart would). */
  cutWatches(): void;
  /** Answers every watch from now on with 500 (a proxy that breaks watches). */
  breakWatches(): void;
  /** Holds every watch request from now on unanswered (a slow API server) until the returned function is called. */
  holdWatches(): () => void;
  /** Watches from now on are answered at once, but what they missed since their resourceVersion comes `ms` later (a slow replay). */
  delayReplay(ms: number): void;
  /** Marks a pod not Ready (someone broke it) or Ready again. */
  setReady(ordinal: number, ready: boolean): void;
  /** A pod as given (with `jobs`: one of an older Job, say). */
  addPod(pod: Json): void;
  /** The pods labelled job-name=`name`, as stored now. */
  jobPods(name: string): Json[];
  /** The Job of that name, as stored now. */
  job(name: string): Json | undefined;
  reset(): void;
  close(): Promise<void>;
}

export interface FakeApiServerOptions {
  readonly stepDelayMs?: number;
  /** Serve Jobs and play their controller (see the module comment). */
  readonly jobs?: { readonly completeAfterMs?: number };
}

/**
 * Until the run's caches (KubeCluster.watchNamespace) have asked for their LISTs and `watches`
 * long-lived WATCHes: their first reads are answered from the LISTs, without waiting for the
 * watches, so a test that counts requests from some point on waits for them first.
 */
export async function untilWatched(server: FakeApiServer, watches: number, lists = 4): Promise<void> {
  for (let i = 0; i < 500 && !((server.requests.list ?? 0) >= lists && (server.requests['informer-watch'] ?? 0) >= watches); i++) await new Promise((r) => setTimeout(r, 10));
}

/**
 * For a test file or describe block: `open` starts a fake API server and connects the real adapter
 * to it (`before` runs in between); both are closed after each test.
 */
export function fakeApiServerPerTest(): (replicas: number, options?: FakeApiServerOptions & { before?: (server: FakeApiServer) => void; sleep?: (ms: number) => Promise<void> }) => Promise<{ server: FakeApiServer; cluster: KubeCluster }> {
  const open: { server?: FakeApiServer | undefined; cluster?: KubeCluster | undefined } = {};
  afterEach(async () => {
    open.cluster?.close();
    await open.server?.close();
    open.server = open.cluster = undefined;
  });
  return async (replicas, { before, sleep, ...options } = {}) => {
    const server = (open.server = await startFakeApiServer(replicas, options));
    before?.(server);
    const cluster = (open.cluster = connectKube({ kubeconfig: server.kubeconfig, env: {}, requestTimeoutMs: 5_000, ...(sleep ? { sleep } : {}) }));
    return { server, cluster };
  };
}

export async function startFakeApiServer(replicas: number, options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const delay = options.stepDelayMs ?? 2;
  let rv = 1000;
  const events: Event[] = [];
  const watchers = new Set<Watcher>();
  let oldestWatchable = 0;
  let refuseNextWatches = false;
  let watchesBroken = false;
  let heldWatches: (() => void)[] | undefined;
  let replayDelayMs = 0;
  const pods = new Map<string, Json>();
  const jobs = new Map<string, Json>();
  let uids = 0;
  const sts: Json = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: STS, namespace: NS, uid: STS_UID, generation: 2, resourceVersion: String(rv) },
    spec: {
      replicas,
      selector: { matchLabels: LABELS },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: replicas } },
      template: { metadata: { labels: LABELS }, spec: { containers: [{ name: STS, image: NEW_IMAGE }] } },
    },
    status: { observedGeneration: 2, replicas, readyReplicas: replicas, updatedReplicas: 0, currentRevision: 'old', updateRevision: 'new' },
  };
  const pod = (ordinal: number, revision: string, ready: boolean): Json => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${STS}-${ordinal}`,
      namespace: NS,
      uid: `pod-${ordinal}-${revision}`,
      labels: { ...LABELS, 'controller-revision-hash': revision },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: STS, uid: STS_UID, controller: true }],
      resourceVersion: String(rv),
      // Real pods are a few KB: the cost of moving them is what this server is for.
      annotations: { filler: 'x'.repeat(2_000) },
    },
    spec: { containers: [{ name: STS, image: revision === 'new' ? NEW_IMAGE : OLD_IMAGE }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });
  for (let i = 0; i < replicas; i++) pods.set(`${STS}-${i}`, pod(i, 'old', true));

  const requests: Record<string, number> = {};
  const server: FakeApiServer = {
    kubeconfig: '',
    requests,
    podsSent: 0,
    log: [],
    expireWatches: () => {
      oldestWatchable = rv + 1;
      refuseNextWatches = true;
    },
    breakWatches: () => {
      watchesBroken = true;
    },
    holdWatches: () => {
      const held: (() => void)[] = [];
      heldWatches = held;
      return () => {
        if (heldWatches === held) heldWatches = undefined;
        for (const answer of held.splice(0)) answer();
      };
    },
    delayReplay: (ms) => {
      replayDelayMs = ms;
    },
    cutWatches: () => {
      for (const w of watchers) w.res.destroy();
      watchers.clear();
    },
    setReady: (ordinal, ready) => {
      const p = pods.get(`${STS}-${ordinal}`)!;
      p.status.conditions = [{ type: 'Ready', status: ready ? 'True' : 'False' }];
      emit('pods', 'MODIFIED', p);
    },
    addPod: (p) => {
      pods.set(p.metadata.name, p);
      emit('pods', 'ADDED', p);
    },
    jobPods: (name) => [...pods.values()].filter((p) => p.metadata.labels?.['job-name'] === name).map((p) => structuredClone(p)),
    job: (name) => structuredClone(jobs.get(name)),
    reset: () => {
      for (const k of Object.keys(requests)) delete requests[k];
      server.podsSent = 0;
      server.log.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.cutWatches();
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };

  function emit(kind: Event['kind'], type: Event['type'], object: Json): void {
    rv++;
    object.metadata.resourceVersion = String(rv);
    const event: Event = { kind, type, object: structuredClone(object), rv };
    events.push(event);
    for (const w of watchers) if (w.kind === kind && w.match(object)) send(w.res, event);
  }
  function send(res: ServerResponse, event: Event): void {
    if (event.kind === 'pods') server.podsSent++;
    res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
  }

  /** The controller: the highest pod at or above the partition still on the old revision is replaced, one at a time. */
  let busy = false;
  function reconcile(): void {
    if (busy) return;
    const partition = sts.spec.updateStrategy.rollingUpdate.partition;
    for (let i = replicas - 1; i >= partition; i--) {
      const p = pods.get(`${STS}-${i}`)!;
      if (p.metadata.labels['controller-revision-hash'] === 'new') continue;
      busy = true;
      const name = `${STS}-${i}`;
      const steps = [
        () => {
          p.metadata.deletionTimestamp = '2025-06-01T12:00:00Z';
          emit('pods', 'MODIFIED', p);
        },
        () => {
          pods.delete(name);
          emit('pods', 'DELETED', p);
        },
        () => {
          const fresh = pod(i, 'new', false);
          pods.set(name, fresh);
          emit('pods', 'ADDED', fresh);
        },
        () => {
          const fresh = pods.get(name)!;
          fresh.status.conditions = [{ type: 'Ready', status: 'True' }];
          emit('pods', 'MODIFIED', fresh);
          sts.status.updatedReplicas++;
          emit('statefulsets', 'MODIFIED', sts);
          busy = false;
          reconcile();
        },
      ];
      const next = () => {
        const s = steps.shift();
        if (!s) return;
        s();
        setTimeout(next, delay);
      };
      setTimeout(next, delay);
      return;
    }
  }

  /** The Job controller: a pod for the Job, Running, Succeeded; Complete later (or never). */
  function runJob(job: Json): void {
    const name = `${job.metadata.name}-${(++uids).toString(36).padStart(5, 'x')}`;
    const uid = job.metadata.uid;
    const podOf: Json = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: NS,
        uid: `pod-${name}`,
        labels: { ...(job.spec.template?.metadata?.labels ?? {}), 'job-name': job.metadata.name, 'batch.kubernetes.io/job-name': job.metadata.name, 'controller-uid': uid, 'batch.kubernetes.io/controller-uid': uid },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid, controller: true }],
      },
      spec: { containers: job.spec.template.spec.containers, restartPolicy: 'Never' },
      status: { phase: 'Pending' },
    };
    const steps = [
      () => {
        pods.set(name, podOf);
        emit('pods', 'ADDED', podOf);
        job.status = { startTime: new Date().toISOString(), active: 1 };
        emit('jobs', 'MODIFIED', job);
      },
      () => {
        podOf.status = { phase: 'Running' };
        emit('pods', 'MODIFIED', podOf);
      },
      () => {
        podOf.status = { phase: 'Succeeded' };
        emit('pods', 'MODIFIED', podOf);
        const after = options.jobs?.completeAfterMs;
        if (after === undefined) return;
        setTimeout(() => {
          job.status = { ...job.status, active: 0, succeeded: 1, conditions: [{ type: 'SuccessCriteriaMet', status: 'True' }, { type: 'Complete', status: 'True' }] };
          emit('jobs', 'MODIFIED', job);
        }, after);
      },
    ];
    const next = () => {
      const step = steps.shift();
      if (!step) return;
      step();
      setTimeout(next, delay);
    };
    setTimeout(next, delay);
  }

  const http: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => handle(req, body, res));
  });

  function reply(res: ServerResponse, code: number, obj: unknown): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(obj));
  }

  function handle(req: IncomingMessage, body: string, res: ServerResponse): void {
    const url = new URL(req.url!, 'http://x');
    const q = url.searchParams;
    const watch = q.get('watch') === '1' || q.get('watch') === 'true';
    const podPath = `/api/v1/namespaces/${NS}/pods`;
    const stsPath = `/apis/apps/v1/namespaces/${NS}/statefulsets`;
    const jobPath = `/apis/batch/v1/namespaces/${NS}/jobs`;
    const kind: Kind | undefined = url.pathname.startsWith(podPath) ? 'pods' : url.pathname.startsWith(stsPath) ? 'statefulsets' : options.jobs && url.pathname.startsWith(jobPath) ? 'jobs' : undefined;
    const base = kind === 'pods' ? podPath : kind === 'jobs' ? jobPath : stsPath;
    const name = kind && url.pathname.length > base.length ? decodeURIComponent(url.pathname.slice(base.length + 1)) : undefined;
    const named = /\/namespaces\/[^/]+\/[^/]+\/[^/]+/.test(url.pathname);
    const verb = req.method === 'GET' ? (watch ? 'watch' : named ? 'get' : 'list') : req.method === 'PATCH' ? 'patch' : req.method!.toLowerCase();
    requests[verb] = (requests[verb] ?? 0) + 1;
    server.log.push({ verb, path: url.pathname });
    // The informers' long-lived watches ask for bookmarks; a wait's one-off watch does not.
    if (watch && q.get('allowWatchBookmarks') === 'true') requests['informer-watch'] = (requests['informer-watch'] ?? 0) + 1;
    if (!kind) return reply(res, 404, { kind: 'Status', code: 404, reason: 'NotFound', message: `no ${url.pathname}` });

    const fieldName = /^metadata\.name=(.+)$/.exec(q.get('fieldSelector') ?? '')?.[1];
    const labelSelector = q.get('labelSelector');
    const match = (obj: Json) =>
      (fieldName === undefined || obj.metadata.name === fieldName) &&
      (!labelSelector || labelSelector.split(',').every((kv) => { const [k, v] = kv.split('='); return obj.metadata.labels?.[k!] === v; }));

    if (req.method === 'PATCH' && kind === 'statefulsets') {
      const patch = JSON.parse(body);
      const partition = patch.spec?.updateStrategy?.rollingUpdate?.partition;
      if (typeof partition === 'number') sts.spec.updateStrategy.rollingUpdate.partition = partition;
      emit('statefulsets', 'MODIFIED', sts);
      reply(res, 200, sts);
      reconcile();
      return;
    }
    if (req.method === 'POST' && kind === 'jobs' && !name) {
      const manifest = JSON.parse(body);
      if (jobs.has(manifest.metadata.name)) return reply(res, 409, { kind: 'Status', code: 409, reason: 'AlreadyExists', message: `jobs.batch "${manifest.metadata.name}" already exists` });
      const job: Json = { ...manifest, metadata: { ...manifest.metadata, namespace: NS, uid: `job-uid-${++uids}`, creationTimestamp: new Date().toISOString() }, status: {} };
      jobs.set(job.metadata.name, job);
      emit('jobs', 'ADDED', job);
      reply(res, 201, job);
      runJob(job);
      return;
    }
    if (req.method !== 'GET') return reply(res, 405, { kind: 'Status', code: 405, reason: 'MethodNotAllowed', message: 'not here' });

    const all = kind === 'pods' ? [...pods.values()] : kind === 'jobs' ? [...jobs.values()] : [sts];
    if (name) {
      const obj = all.find((o) => o.metadata.name === name);
      if (!obj) return reply(res, 404, { kind: 'Status', code: 404, reason: 'NotFound', message: `${name} not found` });
      if (kind === 'pods') server.podsSent++;
      return reply(res, 200, obj);
    }
    if (!watch) {
      const items = all.filter(match);
      if (kind === 'pods') server.podsSent += items.length;
      return reply(res, 200, { kind: 'List', metadata: { resourceVersion: String(rv) }, items });
    }
    if (heldWatches) {
      heldWatches.push(() => openWatch(q, kind, match, res));
      return;
    }
    openWatch(q, kind, match, res);
  }

  function openWatch(q: URLSearchParams, kind: Kind, match: (obj: Json) => boolean, res: ServerResponse): void {
    if (res.destroyed) return;
    if (watchesBroken) return reply(res, 500, { kind: 'Status', code: 500, reason: 'InternalError', message: 'watch broken' });
    const from = Number(q.get('resourceVersion') ?? rv);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    // As kube-apiserver does: the headers go out at once, not with the first event.
    res.flushHeaders();
    if (refuseNextWatches || from < oldestWatchable) {
      refuseNextWatches = false;
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } })}\n`);
      return;
    }
    const replay = () => {
      if (res.destroyed) return;
      for (const e of events) if (e.kind === kind && e.rv > from && match(e.object)) send(res, e);
      const watcher: Watcher = { kind, match, res };
      watchers.add(watcher);
      res.on('close', () => watchers.delete(watcher));
    };
    if (replayDelayMs > 0) setTimeout(replay, replayDelayMs);
    else replay();
  }

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'peerdb-upgrade-fake-apiserver-')), 'config');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: t\n  context: {cluster: c, user: u, namespace: ${NS}}\ncurrent-context: t\n`,
  );
  return Object.assign(server, { kubeconfig });
}
