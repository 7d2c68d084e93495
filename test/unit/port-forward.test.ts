/**
 * HTTP through pods/portforward (src/cluster/port-forward.ts) against a small kubelet-like server on
 * loopback: WebSocket, v4.channel.k8s.io, a data and an error channel whose first frames carry the
 * port. One exchange's requests share one forward where the server keeps connections (HTTP/1.1
 * keep-alive, reads pipelined), and fall back to a forward per request where it closes them,
 * without ever sending a request that may act twice.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { WebSocketServer, type WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterError } from '../../src/cluster/cluster-error.js';
import { forwardHttp, parseHttpResponse } from '../../src/cluster/port-forward.js';
import type { PodHttpRequest, PodHttpResponse, PodHttpSend } from '../../src/cluster/port.js';

const PORT = 8113;
type Mode = 'keep-alive' | 'close-header' | 'close-silent' | 'refuse' | 'forbidden';

interface FakeKubelet {
  readonly url: string;
  /** Connections opened, and the requests (method path) each received, in order. */
  readonly connections: string[][];
  /** Connections the client has closed. */
  closedByClient: number;
  /** TCP connections accepted. */
  tcp: number;
  close(): Promise<void>;
}

let kubelet: FakeKubelet | undefined;
afterEach(async () => {
  await kubelet?.close();
  kubelet = undefined;
});

/** Answers each request with its own path and number on the connection; some paths chunked. */
async function startKubelet(mode: Mode, options: { dropOn?: string; stallOn?: string; dropFirstUpgrade?: boolean } = {}): Promise<FakeKubelet> {
  const connections: string[][] = [];
  const sockets = new Set<WebSocket>();
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => (protocols.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false) });
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const state: FakeKubelet = {
    url: '',
    connections,
    closedByClient: 0,
    tcp: 0,
    close: async () => {
      for (const s of sockets) s.terminate();
      wss.close();
      await new Promise((r) => server.close(r));
    },
  };
  server.on('connection', () => state.tcp++);
  let upgrades = 0;
  server.on('upgrade', (req, socket, head) => {
    // An idle keep-alive connection the server drops just as the client takes it.
    if (options.dropFirstUpgrade && upgrades++ === 0) {
      socket.destroy();
      return;
    }
    if (!/^\/api\/v1\/namespaces\/peerdb\/pods\/flow-api-0\/portforward\?ports=8113$/.test(req.url ?? '')) {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    if (mode === 'forbidden') {
      const body = JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: 'pods "flow-api-0" is forbidden: User "u" cannot create resource "pods/portforward"' });
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      const seen: string[] = [];
      connections.push(seen);
      let byServer = false;
      ws.on('close', () => {
        sockets.delete(ws);
        if (!byServer) state.closedByClient++;
      });
      const portPrefix = Buffer.from([PORT & 0xff, PORT >> 8]);
      ws.send(Buffer.concat([Buffer.from([0]), portPrefix]));
      ws.send(Buffer.concat([Buffer.from([1]), portPrefix]));
      if (mode === 'refuse') {
        ws.send(Buffer.concat([Buffer.from([1]), Buffer.from('failed to connect to localhost:8113 inside namespace of pod peerdb/flow-api-0: connection refused')]));
        byServer = true;
        ws.close();
        return;
      }
      let buffer = Buffer.alloc(0);
      let stalled = false;
      ws.on('message', (raw: Buffer) => {
        if (raw[0] !== 0) return;
        buffer = Buffer.concat([buffer, raw.subarray(1)]);
        for (;;) {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buffer.subarray(0, end).toString('latin1');
          const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
          if (buffer.length < end + 4 + length) return;
          buffer = buffer.subarray(end + 4 + length);
          const [method, path] = head.split(' ');
          seen.push(`${method} ${path}`);
          if (options.dropOn === `${method} ${path}`) {
            byServer = true;
            ws.close();
            return;
          }
          // A server busy with a request answers nothing after it either (HTTP/1.1 answers in order).
          if (options.stallOn === `${method} ${path}`) stalled = true;
          if (stalled) return;
          const body = JSON.stringify({ path, n: seen.length });
          const chunked = path!.includes('chunked');
          const headers = ['HTTP/1.1 200 OK', 'Content-Type: application/json', chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`, ...(mode === 'close-header' ? ['Connection: close'] : [])];
          const payload = chunked ? `${body.slice(0, 5).length.toString(16)}\r\n${body.slice(0, 5)}\r\n${(body.length - 5).toString(16)}\r\n${body.slice(5)}\r\n0\r\n\r\n` : body;
          const response = Buffer.from(`${headers.join('\r\n')}\r\n\r\n${payload}`);
          // Split across frames, as a stream may deliver it.
          ws.send(Buffer.concat([Buffer.from([0]), response.subarray(0, 10)]));
          ws.send(Buffer.concat([Buffer.from([0]), response.subarray(10)]));
          if (mode !== 'keep-alive') {
            byServer = true;
            ws.close();
            return;
          }
        }
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(state, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
}

function target(url: string) {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { kc, server: url, namespace: 'peerdb', pod: 'flow-api-0', port: PORT };
}

const get = (path: string): PodHttpRequest => ({ method: 'GET', path, timeoutMs: 5_000 });
const post = (path: string, idempotent = false): PodHttpRequest => ({ method: 'POST', path, body: { x: 1 }, timeoutMs: 5_000, ...(idempotent ? { idempotent: true } : {}) });
const pathOf = (r: PodHttpResponse) => (r.body as { path: string }).path;

/** What an observation of PeerDB does: three reads at once, then reads that depend on one (status queries, POSTs that only read). */
async function observation(send: PodHttpSend): Promise<string[]> {
  const [a, b, list] = await Promise.all([send(get('/v1/instance/info')), send(get('/v1/version')), send(get('/v1/mirrors/list?chunked'))]);
  const statuses = await Promise.all([send(post('/v1/mirrors/status?m1', true)), send(post('/v1/mirrors/status?m2', true))]);
  return [a, b, list, ...statuses].map((r) => `${r.status} ${pathOf(r)}`);
}

/** The observation, then an action (a POST that changes something). */
async function observeThenAct(send: PodHttpSend): Promise<string[]> {
  const seen = await observation(send);
  const act = await send(post('/v1/mirrors/state_change'));
  return [...seen, `${act.status} ${pathOf(act)}`];
}

const READS = ['GET /v1/instance/info', 'GET /v1/version', 'GET /v1/mirrors/list?chunked', 'POST /v1/mirrors/status?m1', 'POST /v1/mirrors/status?m2'];
const ANSWERS = ['/v1/instance/info', '/v1/version', '/v1/mirrors/list?chunked', '/v1/mirrors/status?m1', '/v1/mirrors/status?m2'].map((p) => `200 ${p}`);

describe('HTTP through pods/portforward', () => {
  it('carries every request of an exchange over one forward on a keep-alive server, answers matched in order', async () => {
    kubelet = await startKubelet('keep-alive');
    expect(await forwardHttp(target(kubelet.url), observation)).toEqual(ANSWERS);
    expect(kubelet.connections).toEqual([READS]);
    // Closed when the exchange ended: nothing stays open.
    for (let i = 0; i < 100 && kubelet.closedByClient === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(kubelet.closedByClient).toBe(1);
  });

  it('sends a request that may act only as the first of a fresh forward', async () => {
    kubelet = await startKubelet('keep-alive');
    expect(await forwardHttp(target(kubelet.url), observeThenAct)).toEqual([...ANSWERS, '200 /v1/mirrors/state_change']);
    expect(kubelet.connections).toEqual([READS, ['POST /v1/mirrors/state_change']]);
  });

  it.each(['close-header', 'close-silent'] as const)('falls back to a forward per request when the server closes after each answer (%s), sending the action once', async (mode) => {
    kubelet = await startKubelet(mode);
    expect(await forwardHttp(target(kubelet.url), observeThenAct)).toEqual([...ANSWERS, '200 /v1/mirrors/state_change']);
    const all = kubelet.connections.flat();
    expect(all.filter((r) => r === 'POST /v1/mirrors/state_change')).toHaveLength(1);
    // Every connection answered exactly one request.
    expect(kubelet.connections.every((c) => c.length >= 1)).toBe(true);
    expect(kubelet.connections.map((c) => c.length - 1).reduce((a, b) => a + b, 0)).toBe(all.length - kubelet.connections.length);
    expect(new Set(all)).toEqual(new Set([...READS, 'POST /v1/mirrors/state_change']));
  });

  it('never sends an action twice: the server closing before its answer fails it', async () => {
    kubelet = await startKubelet('keep-alive', { dropOn: 'POST /v1/mirrors/state_change' });
    const error = await forwardHttp(target(kubelet.url), async (send) => {
      await send(get('/v1/instance/info'));
      return send(post('/v1/mirrors/state_change'));
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterError);
    expect((error as ClusterError).kind).toBe('network');
    expect((error as Error).message).toMatch(/closed the connection/);
    expect(kubelet.connections.flat().filter((r) => r.includes('state_change'))).toHaveLength(1);
  });

  it('a request without an answer in its time fails with the ones written behind it; the next goes over a new forward', async () => {
    kubelet = await startKubelet('keep-alive', { stallOn: 'GET /stall' });
    const [first, stalled, behind, next] = await forwardHttp(target(kubelet.url), async (send) => {
      const settled = await Promise.allSettled([send(get('/a')), send({ ...get('/stall'), timeoutMs: 300 }), send(get('/b'))]);
      return [...settled, await send(get('/c')).then((r) => pathOf(r))];
    });
    expect(first).toMatchObject({ status: 'fulfilled' });
    expect(((stalled as PromiseRejectedResult).reason as ClusterError).kind).toBe('timeout');
    expect(((behind as PromiseRejectedResult).reason as ClusterError).kind).toBe('timeout');
    expect(next).toBe('/c');
    // /b went out behind /stall on the first forward; /c over a new one.
    expect(kubelet.connections.map((c) => c.filter((r) => r !== 'GET /b'))).toEqual([['GET /a', 'GET /stall'], ['GET /c']]);
  });

  it('a refused port fails every request with what the kubelet said', async () => {
    kubelet = await startKubelet('refuse');
    const results = await forwardHttp(target(kubelet.url), (send) => Promise.allSettled([send(get('/v1/instance/info')), send(get('/v1/version'))]));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const reason = (r as PromiseRejectedResult).reason as ClusterError;
      expect(reason.kind).toBe('network');
      expect(reason.message).toContain('connection refused');
    }
    expect(kubelet.connections).toHaveLength(1);
  });

  it('reports a refused port-forward (403) as forbidden', async () => {
    kubelet = await startKubelet('forbidden');
    const error = await forwardHttp(target(kubelet.url), (send) => send(get('/v1/version'))).catch((e: unknown) => e);
    expect((error as ClusterError).kind).toBe('forbidden');
  });

  it("goes out on an idle connection of the API requests' agent, which leaves the pool when upgraded", async () => {
    kubelet = await startKubelet('keep-alive');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    try {
      // An API request before it: its connection stays in the pool.
      await new Promise<void>((resolve, reject) => http.get(`${kubelet!.url}/api`, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject));
      expect(await forwardHttp({ ...target(kubelet.url), agent }, observation)).toEqual(ANSWERS);
      expect(kubelet.tcp).toBe(1);
      expect(kubelet.connections).toEqual([READS]);
      // Upgraded, then closed with the exchange: the pool keeps nothing of it.
      for (let i = 0; i < 100 && kubelet.closedByClient === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(kubelet.closedByClient).toBe(1);
      expect([Object.keys(agent.sockets).length, Object.values(agent.freeSockets).flat().length]).toEqual([0, 0]);
    } finally {
      agent.destroy();
    }
  });

  it('an idle pooled connection the server drops as it is taken: the forward is tried again on a connection of its own', async () => {
    kubelet = await startKubelet('keep-alive', { dropFirstUpgrade: true });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    try {
      await new Promise<void>((resolve, reject) => http.get(`${kubelet!.url}/api`, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject));
      expect(await forwardHttp({ ...target(kubelet.url), agent }, observation)).toEqual(ANSWERS);
      expect(kubelet.connections).toEqual([READS]);
      expect(kubelet.tcp).toBe(2);
    } finally {
      agent.destroy();
    }
  });

  it('opens no forward for an exchange that sends nothing', async () => {
    kubelet = await startKubelet('keep-alive');
    expect(await forwardHttp(target(kubelet.url), async () => 'nothing')).toBe('nothing');
    await new Promise((r) => setTimeout(r, 50));
    expect(kubelet.connections).toHaveLength(0);
  });

  it('still reads a whole response that ends with the connection', () => {
    expect(parseHttpResponse(Buffer.from('HTTP/1.1 503 Service Unavailable\r\n\r\n{"code":14}'))).toEqual({ status: 503, body: { code: 14 } });
  });
});
