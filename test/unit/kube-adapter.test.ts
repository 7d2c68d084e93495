import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ClusterError, errorFromResponse } from '../../src/cluster/cluster-error.js';
import { connectKube, type KubeCluster } from '../../src/cluster/kube-adapter.js';
import { withRetry } from '../../src/cluster/retry.js';
import { encodeReleaseSecret } from '../../src/cluster/helm-release.js';
import { gzipSync } from 'node:zlib';
import { reportError } from '../../src/cli/report-error.js';
import { makeStyle } from '../../src/cli/io.js';
import { ExitCode } from '../../src/exit-code.js';

/** Status bodies as kube-apiserver v1.34 sends them. */
const status = (code: number, reason: string, message: string, details?: unknown) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code });

type Handler = (req: IncomingMessage & { body: string }, res: ServerResponse) => void;
let handlers: Handler[] = [];
const seen: { method: string; url: string; contentType: string | undefined; body: string; at: number }[] = [];
let server: ReturnType<typeof createServer>;
let kubeconfig: string;

function reply(code: number, body: unknown, headers: Record<string, string> = {}): Handler {
  return (_req, res) => {
    res.writeHead(code, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, contentType: req.headers['content-type'], body, at: Date.now() });
      const handler = handlers.shift() ?? reply(500, status(500, 'InternalError', 'no handler left'));
      handler(Object.assign(req, { body }), res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  kubeconfig = join(mkdtempSync(join(tmpdir(), 'peerdb-upgrade-adapter-')), 'config');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: secret-token}\ncontexts:\n- name: t\n  context: {cluster: c, user: u, namespace: peerdb}\ncurrent-context: t\n`,
  );
});
afterAll(() => server.close());
beforeEach(() => {
  handlers = [];
  seen.length = 0;
  sleeps.length = 0;
});

/** Every wait the adapter asked for (retry backoff, Retry-After), in ms: recorded, not waited. */
const sleeps: number[] = [];

function cluster(requestTimeoutMs = 2_000): KubeCluster {
  return connectKube({ kubeconfig, env: {}, requestTimeoutMs, sleep: async (ms) => void sleeps.push(ms) });
}

async function caught(promise: Promise<unknown>): Promise<ClusterError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ClusterError) return error;
    throw error;
  }
  throw new Error('expected a ClusterError');
}

const deployment = {
  kind: 'Deployment',
  metadata: { name: 'flow-api', namespace: 'peerdb', uid: 'u1', generation: 2, resourceVersion: '41' },
  spec: { replicas: 2, selector: { matchLabels: { app: 'flow-api' } }, template: { spec: { containers: [{ name: 'flow-api', image: 'ghcr.io/peerdb-io/flow-api:stable-v0.36.7', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }] } } },
  status: { observedGeneration: 2, replicas: 2, readyReplicas: 2, updatedReplicas: 2, availableReplicas: 2 },
};

describe('the Kubernetes adapter against real response shapes', () => {
  it('reads a workload with the bearer token and maps it, env kept by reference', async () => {
    handlers.push(reply(200, deployment));
    const w = await cluster().getWorkload('peerdb', { kind: 'Deployment', name: 'flow-api' });
    expect(w).toMatchObject({ kind: 'Deployment', name: 'flow-api', replicas: 2, statusReplicas: 2, selector: 'app=flow-api', containers: [{ name: 'flow-api', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }] });
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/apis/apps/v1/namespaces/peerdb/deployments/flow-api' });
  });

  it('answers undefined for 404 and never retries it', async () => {
    handlers.push(reply(404, status(404, 'NotFound', 'deployments.apps "flow-api" not found', { name: 'flow-api', group: 'apps', kind: 'deployments' })));
    expect(await cluster().getWorkload('peerdb', { kind: 'Deployment', name: 'flow-api' })).toBeUndefined();
    expect(seen).toHaveLength(1);
  });

  it('patches one container with a strategic merge patch, and passes dryRun=All', async () => {
    handlers.push(reply(200, deployment));
    await cluster().patchWorkload('peerdb', { kind: 'StatefulSet', name: 'w' }, { image: { container: 'w', image: 'x:2' }, partition: 3 }, { dryRun: true });
    expect(seen[0]!.method).toBe('PATCH');
    expect(seen[0]!.url).toBe('/apis/apps/v1/namespaces/peerdb/statefulsets/w?dryRun=All');
    expect(seen[0]!.contentType).toBe('application/strategic-merge-patch+json');
    expect(JSON.parse(seen[0]!.body)).toEqual({ spec: { template: { spec: { containers: [{ name: 'w', image: 'x:2' }] } }, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 3 } } } });
  });

  it("records the user's partition on a StatefulSet as an annotation, and removes it with null (strategic merge), leaving other annotations alone", async () => {
    handlers.push(reply(200, deployment), reply(200, deployment));
    await cluster().patchWorkload('peerdb', { kind: 'StatefulSet', name: 'w' }, { partition: 4, userPartition: 2 });
    await cluster().patchWorkload('peerdb', { kind: 'StatefulSet', name: 'w' }, { partition: 2, userPartition: null });
    expect(seen.map((r) => JSON.parse(r.body))).toEqual([
      { metadata: { annotations: { 'peerdb-upgrade.peerdb.io/user-partition': '2' } }, spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 4 } } } },
      { metadata: { annotations: { 'peerdb-upgrade.peerdb.io/user-partition': null } }, spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } } },
    ]);
  });

  it('maps 403 to forbidden with the server message and the namespace, without retrying; the CLI words the way out for that namespace', async () => {
    handlers.push(reply(403, status(403, 'Forbidden', 'statefulsets.apps "w" is forbidden: User "system:serviceaccount:peerdb:upgrader" cannot patch resource "statefulsets" in API group "apps" in the namespace "peerdb"')));
    const error = await caught(cluster().patchWorkload('peerdb', { kind: 'StatefulSet', name: 'w' }, { partition: 1 }));
    expect(error.kind).toBe('forbidden');
    expect(error.message).toBe('forbidden: statefulsets.apps "w" is forbidden: User "system:serviceaccount:peerdb:upgrader" cannot patch resource "statefulsets" in API group "apps" in the namespace "peerdb"');
    expect(error.namespace).toBe('peerdb');
    expect(seen).toHaveLength(1);
    // Followed literally, the printed command prints the Role for the namespace that refused.
    let stderr = '';
    const code = reportError(error, { write: (text: string) => ((stderr += text), true) }, makeStyle(0));
    expect(code).toBe(ExitCode.Error);
    expect(stderr).toContain('hint: grant the Role printed by `peerdb-upgrade rbac -n peerdb`');
  });

  it('reads a Helm release: the deployed revision by label first, all revisions when none is deployed; 403 is "forbidden", not an error', async () => {
    const secret = (revision: number, status: string) =>
      encodeReleaseSecret({ name: 'peerdb', namespace: 'peerdb', revision, status, chart: { name: 'peerdb', version: '0.9.3', appVersion: undefined }, config: { peerdb: { version: `stable-v0.36.${revision}` } }, chartValues: {} }, gzipSync);
    handlers.push(reply(200, { kind: 'SecretList', items: [secret(2, 'deployed')] }));
    const read = await cluster().readHelmRelease('peerdb', 'peerdb');
    expect(read).toMatchObject({ outcome: 'read', release: { revision: 2, config: { peerdb: { version: 'stable-v0.36.2' } } } });
    expect(decodeURIComponent(seen[0]!.url)).toBe('/api/v1/namespaces/peerdb/secrets?labelSelector=owner=helm,name=peerdb,status=deployed');

    seen.length = 0;
    handlers.push(reply(200, { kind: 'SecretList', items: [] }), reply(200, { kind: 'SecretList', items: [secret(3, 'failed'), secret(4, 'pending-upgrade')] }));
    expect(await cluster().readHelmRelease('peerdb', 'peerdb')).toMatchObject({ outcome: 'read', release: { revision: 4, status: 'pending-upgrade' } });
    expect(decodeURIComponent(seen[1]!.url)).toBe('/api/v1/namespaces/peerdb/secrets?labelSelector=owner=helm,name=peerdb');

    handlers.push(reply(403, status(403, 'Forbidden', 'secrets is forbidden: User "u" cannot list resource "secrets" in API group "" in the namespace "peerdb"')));
    expect(await cluster().readHelmRelease('peerdb', 'peerdb')).toEqual({ outcome: 'forbidden', detail: 'not allowed to list secrets in namespace peerdb' });
    handlers.push(reply(200, { kind: 'SecretList', items: [] }), reply(200, { kind: 'SecretList', items: [] }));
    expect(await cluster().readHelmRelease('peerdb', 'peerdb')).toMatchObject({ outcome: 'not-found' });
  });

  it('tells AlreadyExists from a resourceVersion conflict', async () => {
    handlers.push(reply(409, status(409, 'AlreadyExists', 'jobs.batch "j" already exists')));
    expect((await caught(cluster().createJob('peerdb', { metadata: { name: 'j' } } as never))).kind).toBe('already-exists');
    handlers.push(reply(409, status(409, 'Conflict', 'Operation cannot be fulfilled on configmaps "c": the object has been modified; please apply your changes to the latest version and try again')));
    expect((await caught(cluster().writeConfigMap('peerdb', 'c', { data: {}, labels: {} }, '5'))).kind).toBe('conflict');
    expect(JSON.parse(seen[1]!.body).metadata.resourceVersion).toBe('5');
  });

  it('maps 422 to invalid, naming the fields', async () => {
    handlers.push(reply(422, status(422, 'Invalid', 'Job.batch "J" is invalid: metadata.name: Invalid value: "J"', { causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value: "J": a lowercase RFC 1123 subdomain', field: 'metadata.name' }] })));
    const error = await caught(cluster().createJob('peerdb', { metadata: { name: 'J' } } as never));
    expect(error.kind).toBe('invalid');
    expect(error.message).toBe('invalid: metadata.name: Invalid value: "J": a lowercase RFC 1123 subdomain');
  });

  it('retries 429 honouring Retry-After, and 5xx with backoff, then succeeds', async () => {
    handlers.push(reply(200, deployment)); // a first answer: the adapter now trusts the server is there
    const c = cluster();
    await c.getWorkload('peerdb', { kind: 'Deployment', name: 'flow-api' });
    handlers.push(reply(429, status(429, 'TooManyRequests', 'too many requests'), { 'Retry-After': '1' }), reply(503, status(503, 'ServiceUnavailable', 'etcd leader changed')), reply(500, status(500, 'InternalError', 'boom')), reply(200, deployment));
    const w = await c.getWorkload('peerdb', { kind: 'Deployment', name: 'flow-api' });
    expect(w?.name).toBe('flow-api');
    expect(seen).toHaveLength(5);
    // Retry-After: 1 is honoured exactly; the 5xx retries back off with jitter below the cap.
    expect(sleeps).toHaveLength(3);
    expect(sleeps[0]).toBe(1_000);
    for (const ms of sleeps.slice(1)) expect(ms).toBeLessThanOrEqual(5_000);
  });

  it('retries a dropped connection, but gives up on a server that never answered after two tries', async () => {
    const drop: Handler = (req) => req.socket.destroy();
    handlers.push(reply(200, deployment));
    const c = cluster();
    await c.getWorkload('peerdb', { kind: 'Deployment', name: 'flow-api' });
    handlers.push(drop, drop, reply(200, deployment));
    expect((await c.getWorkload('peerdb', { kind: 'Deployment', name: 'flow-api' }))?.name).toBe('flow-api');

    seen.length = 0;
    handlers.push(drop, drop, drop);
    const error = await caught(cluster().getWorkload('peerdb', { kind: 'Deployment', name: 'flow-api' }));
    expect(error.kind).toBe('network');
    expect(seen).toHaveLength(2);
  });

  it('rides out 5xx on its very first request: a server that answered, even 503, is there (only one that never answered fails fast)', async () => {
    // An API server busy at the run's start (a leader change, a restart behind its load balancer):
    // a CI job's `apply --resume` must not exit 1 for it.
    const busy = reply(503, status(503, 'ServiceUnavailable', 'etcd leader changed'));
    handlers.push(busy, busy, busy, reply(200, deployment));
    expect((await cluster().getWorkload('peerdb', { kind: 'Deployment', name: 'flow-api' }))?.name).toBe('flow-api');
    expect(seen).toHaveLength(4);
    expect(sleeps).toHaveLength(3);
  });

  it('puts a timeout on every request', async () => {
    handlers.push(() => undefined, () => undefined);
    // The server never answers: only the request timeout can end this (vitest would time out otherwise).
    const error = await caught(cluster(300).getWorkload('peerdb', { kind: 'Deployment', name: 'flow-api' }));
    expect(error.kind).toBe('timeout');
    expect(error.message).toContain('no answer from the API server');
  });

  it('does not send a PATCH again after a 500 or a dropped connection (it may have landed); reads it does', async () => {
    handlers.push(reply(200, deployment));
    const c = cluster();
    await c.getWorkload('peerdb', { kind: 'Deployment', name: 'flow-api' });
    seen.length = 0;
    handlers.push(reply(500, status(500, 'InternalError', 'boom')));
    const error = await caught(c.patchWorkload('peerdb', { kind: 'StatefulSet', name: 'w' }, { partition: 1 }));
    expect(error.kind).toBe('server');
    expect(seen.map((r) => r.method)).toEqual(['PATCH']);
    seen.length = 0;
    handlers.push((req) => req.socket.destroy());
    expect((await caught(c.patchWorkload('peerdb', { kind: 'StatefulSet', name: 'w' }, { partition: 1 }))).kind).toBe('network');
    expect(seen.map((r) => r.method)).toEqual(['PATCH']);
    seen.length = 0;
    handlers.push(reply(503, status(503, 'ServiceUnavailable', 'not ready')), reply(200, { metadata: { resourceVersion: '9' } }));
    await c.patchWorkload('peerdb', { kind: 'StatefulSet', name: 'w' }, { partition: 1 });
    expect(seen.map((r) => r.method)).toEqual(['PATCH', 'PATCH']);
  });

  it('keeps retrying a read through an outage longer than its attempts, up to the outage budget', async () => {
    let clock = 0;
    let attempts = 0;
    const value = await withRetry(
      async () => {
        attempts += 1;
        if (clock < 60_000) throw new ClusterError('network', 'cannot reach the API server (connection refused)', { notSent: true });
        return 'back';
      },
      { policy: { attempts: 3, baseDelayMs: 100, maxDelayMs: 5_000, maxRetryAfterMs: 30_000, outageMs: 180_000 }, sleep: async (ms) => void (clock += ms), now: () => clock },
    );
    expect(value).toBe('back');
    expect(attempts).toBeGreaterThan(3);
    const gaveUp = await caught(
      withRetry(async () => {
        throw new ClusterError('network', 'down', { notSent: true });
      }, { policy: { attempts: 3, baseDelayMs: 100, maxDelayMs: 5_000, maxRetryAfterMs: 30_000, outageMs: 10_000 }, sleep: async (ms) => void (clock += ms), now: () => clock }),
    );
    expect(gaveUp.kind).toBe('network');
  });

  it('never retries what cannot get better', async () => {
    let attempts = 0;
    const error = await caught(withRetry(async () => {
      attempts += 1;
      throw errorFromResponse(422, status(422, 'Invalid', 'bad'), { method: 'POST', what: 'x' });
    }));
    expect(error.kind).toBe('invalid');
    expect(attempts).toBe(1);
  });
});

describe('access checks: one rules review instead of an access review per verb (issue 14 item 3)', () => {
  const checks = [
    { verb: 'get', group: 'apps', resource: 'statefulsets' },
    { verb: 'patch', group: 'apps', resource: 'statefulsets' },
    { verb: 'list', group: '', resource: 'pods' },
    { verb: 'create', group: '', resource: 'pods', subresource: 'portforward' },
    { verb: 'delete', group: 'coordination.k8s.io', resource: 'leases' },
  ];

  it('answers every check the rules allow from one SelfSubjectRulesReview', async () => {
    handlers.push(
      reply(201, {
        kind: 'SelfSubjectRulesReview',
        status: {
          incomplete: false,
          resourceRules: [
            { verbs: ['get', 'list', 'watch', 'patch'], apiGroups: ['apps'], resources: ['statefulsets', 'deployments'] },
            { verbs: ['list', 'watch'], apiGroups: [''], resources: ['pods'] },
            { verbs: ['get', 'create'], apiGroups: [''], resources: ['pods/portforward'] },
            { verbs: ['*'], apiGroups: ['coordination.k8s.io'], resources: ['*'] },
          ],
        },
      }),
    );
    expect(await cluster().deniedAccess('peerdb', checks)).toEqual([]);
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews']);
    expect(JSON.parse(seen[0]!.body).spec).toEqual({ namespace: 'peerdb' });
  });

  it('asks a SelfSubjectAccessReview for what the rules do not show (an incomplete review never denies by itself)', async () => {
    handlers.push(
      reply(201, { kind: 'SelfSubjectRulesReview', status: { incomplete: true, resourceRules: [{ verbs: ['get', 'patch'], apiGroups: ['apps'], resources: ['statefulsets'] }, { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['x'] }] } }),
      // Three checks left, in order: list pods (allowed by a webhook), create pods/portforward (denied), delete leases (allowed).
      (req, res) => reply(201, { status: { allowed: JSON.parse(req.body).spec.resourceAttributes.resource !== 'pods' || JSON.parse(req.body).spec.resourceAttributes.verb === 'list' } })(req, res),
      (req, res) => reply(201, { status: { allowed: JSON.parse(req.body).spec.resourceAttributes.resource !== 'pods' || JSON.parse(req.body).spec.resourceAttributes.verb === 'list' } })(req, res),
      (req, res) => reply(201, { status: { allowed: JSON.parse(req.body).spec.resourceAttributes.resource !== 'pods' || JSON.parse(req.body).spec.resourceAttributes.verb === 'list' } })(req, res),
    );
    expect(await cluster().deniedAccess('peerdb', checks)).toEqual([checks[3]]);
    expect(seen.filter((r) => r.url.endsWith('selfsubjectaccessreviews'))).toHaveLength(3);
  });

  it('falls back to one access review per check where rules reviews are not served', async () => {
    handlers.push(reply(404, status(404, 'NotFound', 'the server could not find the requested resource')));
    for (let i = 0; i < checks.length; i++) handlers.push(reply(201, { status: { allowed: true } }));
    expect(await cluster().deniedAccess('peerdb', checks)).toEqual([]);
    expect(seen.filter((r) => r.url.endsWith('selfsubjectaccessreviews'))).toHaveLength(checks.length);
  });
});
