import { describe, expect, it } from 'vitest';
import { applyUpgrade } from '../../src/apply/apply-upgrade.js';
import { CHECKPOINT_KEY, parseCheckpoint } from '../../src/apply/checkpoint.js';
import { resumeMirrors } from '../../src/apply/resume-mirrors.js';
import { checkPeerDB } from '../../src/apply/verify-mirrors.js';
import { parseHttpResponse } from '../../src/cluster/port-forward.js';
import { ExitCode } from '../../src/exit-code.js';
import { isVersion, observePeerDB } from '../../src/peerdb/flow-api.js';
import { parseSpecText, resolveSpec } from '../../src/spec/load-spec.js';
import { MemoryCluster } from './fakes/memory-cluster.js';
import { applyRequest, HELM_SPEC_TEXT, outcomeOf } from './fakes/apply-request.js';

const NS = 'peerdb';

function withMirrors(cluster: MemoryCluster, mirrors: Record<string, string>, failsToResume: string[] = []): MemoryCluster {
  const p = cluster.peerdb(NS);
  for (const [name, status] of Object.entries(mirrors)) p.mirrors.set(name, status);
  for (const name of failsToResume) p.failsToResume.add(name);
  return cluster;
}

const checkpoint = (cluster: MemoryCluster) => parseCheckpoint(cluster.peekConfigMap(NS, 'peerdb-peerdb-upgrade')!.data[CHECKPOINT_KEY]!, 'test');

describe('PeerDB through flow-api during apply (in-memory cluster)', () => {
  it('records the running mirrors, and verifies them running after maintenance end', async () => {
    const cluster = withMirrors(new MemoryCluster().seedHelm(NS, 'v0.36.7'), { a: 'STATUS_RUNNING', b: 'STATUS_RUNNING', mine: 'STATUS_PAUSED' });
    const { request, events } = applyRequest(cluster);
    expect((await outcomeOf(applyUpgrade(request))).code).toBe(0);
    expect(checkpoint(cluster).mirrors).toMatchObject({ running: ['a', 'b'], in_between: [], left_alone: ['mine'] });
    const verified = events.find((e) => e.type === 'step-done' && e.step.id === 'verify-mirrors');
    expect(verified).toMatchObject({ message: 'PeerDB stable-v0.37.4 out of maintenance; 2 mirrors running again: a, b' });
    expect(cluster.peerdb(NS).mirrors.get('mine')).toBe('STATUS_PAUSED');
  });

  it("reads PeerDB's state over one port-forward per observation: instance, version, the list and each mirror's status", async () => {
    const cluster = withMirrors(new MemoryCluster().seedHelm(NS, 'v0.36.7'), { a: 'STATUS_RUNNING', b: 'STATUS_RUNNING', mine: 'STATUS_PAUSED' });
    const observed = await observePeerDB(cluster, resolveSpec(parseSpecText('helm-default.yaml', HELM_SPEC_TEXT).document));
    expect(observed.ok && observed.state.mirrors.map((m) => `${m.name} ${m.status}`)).toEqual(['a STATUS_RUNNING', 'b STATUS_RUNNING', 'mine STATUS_PAUSED']);
    const requests = cluster.calls.filter((c) => c.method === 'podHttp').map((c) => (c.args[3] as { path: string }).path);
    expect(requests).toHaveLength(3 + 3);
    expect(cluster.portForwards).toBe(1);
    // The status queries are marked as reads: pipelined and sent again like GETs.
    expect(cluster.calls.filter((c) => c.method === 'podHttp' && (c.args[3] as { method: string }).method === 'POST').every((c) => (c.args[3] as { idempotent?: boolean }).idempotent === true)).toBe(true);
  });

  it('ends "needs a person" (exit 5) naming a mirror maintenance end left paused, with commands that work', async () => {
    const cluster = withMirrors(new MemoryCluster().seedHelm(NS, 'v0.36.7'), { a: 'STATUS_RUNNING', stuck: 'STATUS_RUNNING' }, ['stuck']);
    const { request } = applyRequest(cluster, { text: HELM_SPEC_TEXT.replace('spec:\n', 'spec:\n  flowApi: { verifyTimeout: 20s }\n') });
    const result = await outcomeOf(applyUpgrade(request));
    expect(result.code).toBe(ExitCode.NeedsPerson);
    expect(result.message).toContain('MIRRORS ARE NOT RUNNING: stuck (STATUS_PAUSED)');
    expect(result.message).toContain('peerdb-upgrade mirrors resume -f helm-default.yaml stuck');
    expect(result.message).toContain('peerdb-upgrade apply -f helm-default.yaml --resume --yes');
    expect(checkpoint(cluster).run.state).toBe('needs-person');

    const spec = resolveSpec(parseSpecText('helm-default.yaml', HELM_SPEC_TEXT).document);
    const resumed = await resumeMirrors({ cluster, spec, names: [], clock: cluster.clock, signal: new AbortController().signal, progress: () => undefined });
    expect(resumed).toEqual({ resumed: ['stuck'], alreadyRunning: [] });
    expect((await outcomeOf(applyUpgrade(applyRequest(cluster, { mode: 'resume' }).request))).code).toBe(0);
    expect(checkpoint(cluster).run.state).toBe('done');
  });

  it('refuses in preflight, changing nothing, when flow-api cannot be asked and reachability is required', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, 'v0.36.7');
    cluster.peerdb(NS).reachable = false;
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster).request));
    expect(result.code).toBe(ExitCode.Error);
    expect(result.message).toMatch(/^preflight: flow-api cannot be asked \(cannot reach pod peerdb\/flow-api-\S+ port 8113: connection refused\).*nothing was changed/);
    expect(cluster.peekConfigMap(NS, 'peerdb-peerdb-upgrade')).toBeUndefined();
    expect(Object.keys(cluster.created('Job'))).toEqual([]);
  });

  it('warns and upgrades on the Jobs alone with reachability best-effort', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, 'v0.36.7');
    cluster.peerdb(NS).reachable = false;
    const { request, events } = applyRequest(cluster, { text: HELM_SPEC_TEXT.replace('spec:\n', 'spec:\n  flowApi: { reachability: best-effort }\n') });
    expect((await outcomeOf(applyUpgrade(request))).code).toBe(0);
    const warnings = events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
    expect(warnings.some((w) => w.includes('the mirrors will NOT be verified'))).toBe(true);
    expect(warnings.some((w) => w.startsWith('MIRRORS NOT VERIFIED'))).toBe(true);
  });

  it('checks the permission to port-forward in preflight', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, 'v0.36.7').deny('create', 'pods/portforward');
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster).request));
    expect(result.code).toBe(ExitCode.Error);
    expect(result.message).toContain('missing permissions in namespace peerdb: create pods/portforward');
  });
});

describe('verification and parsing', () => {
  const state = { instance: 'INSTANCE_STATUS_READY', version: 'stable-v0.37.4', pod: 'p', mirrors: [{ name: 'a', status: 'STATUS_RUNNING', isCdc: true }, { name: 'b', status: 'STATUS_PAUSED', isCdc: true }] };

  it('passes only when out of maintenance, on the target version, every recorded mirror running', () => {
    expect(checkPeerDB(state, { recorded: ['a'], version: 'v0.37.4' }).done).toBe(true);
    expect(checkPeerDB(state, { recorded: ['a', 'b', 'gone'], version: 'v0.37.4' })).toMatchObject({ done: false, notRunning: [{ name: 'b', status: 'STATUS_PAUSED' }, { name: 'gone', status: 'not found' }] });
    expect(checkPeerDB({ ...state, instance: 'INSTANCE_STATUS_MAINTENANCE' }, { recorded: [], version: undefined }).status).toBe('instance maintenance');
    expect(checkPeerDB(state, { recorded: [], version: 'v0.37.5' }).status).toBe('flow-api reports version stable-v0.37.4, not v0.37.5');
  });

  it('matches the version flow-api reports against the target tag', () => {
    expect(isVersion('stable-v0.37.4', 'v0.37.4')).toBe(true);
    expect(isVersion('v0.37.4', 'v0.37.4')).toBe(true);
    expect(isVersion('stable-v0.37.40', 'v0.37.4')).toBe(false);
    expect(isVersion('stable-v1.0.37.4', 'v0.37.4')).toBe(false);
  });

  it('reads a whole HTTP/1.1 response, chunked or with a length', () => {
    expect(parseHttpResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{"status":"x"}trailing'))).toEqual({ status: 200, body: { status: 'x' } });
    expect(parseHttpResponse(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n'))).toEqual({ status: 200, body: { a: 1 } });
    expect(parseHttpResponse(Buffer.from('HTTP/1.1 503 Service Unavailable\r\n\r\n{"code":14,"message":"PeerDB is under maintenance"}'))).toEqual({ status: 503, body: { code: 14, message: 'PeerDB is under maintenance' } });
    expect(() => parseHttpResponse(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'))).toThrow(/not an HTTP status line/);
  });
});
