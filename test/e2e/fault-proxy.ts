/**
 * A loopback HTTPS proxy between a client (the CLI, kubectl) and the test control plane's API
 * server, that records every request and can inject faults, reproducibly from a seed.
 *
 *   const proxy = await startFaultProxy({ kubeconfig: cp.kubeconfig, seed: 7, faults: { status503: 0.05 } });
 *   await runCli([...], { kubeconfig: proxy.kubeconfig });   // the CLI talks to the proxy
 *   proxy.records   // method, path, verb, resource, status, times, the fault injected
 *   await proxy.close();
 *
 * TLS is terminated with the control plane's own serving certificate (test/cluster writes it to
 * <work dir>/pki/apiserver.{crt,key}; it is valid for 127.0.0.1), so the proxy's kubeconfig keeps the
 * real CA and the client verifies the server as usual. Upstream, the proxy authenticates with the
 * kubeconfig's own client certificate (and forwards a bearer token if the client sent one).
 *
 * Faults are decided per request by a hash of (seed, verb, resource, how many times that verb and
 * resource were seen), not by arrival order across resources, so a seed replays the same faults on
 * the same requests even when unrelated requests interleave differently.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parse, stringify } from 'yaml';
import { loadKubeConfig } from './harness.js';

export type FaultKind =
  | 'status500'
  | 'status503'
  /** 429 with Retry-After: 1. */
  | 'status429'
  /** The connection is closed before the request reaches the API server. */
  | 'dropBefore'
  /** The request reaches the API server (a write takes effect), then the connection is closed without the answer. */
  | 'dropAfter'
  /** A watch is cut after its headers (and maybe some events), as a load balancer or a restarting apiserver would. */
  | 'watchCut'
  /** Added latency before forwarding. */
  | 'latency';

export const FAULT_KINDS: readonly FaultKind[] = ['status500', 'status503', 'status429', 'dropBefore', 'dropAfter', 'watchCut', 'latency'];

/** Probability of each fault per request (watchCut: per watch request). The sum must stay ≤ 1. */
export type FaultRates = Partial<Record<FaultKind, number>>;

export interface FaultProxyOptions {
  /** Kubeconfig of the API server to forward to. */
  kubeconfig: string;
  seed?: number;
  faults?: FaultRates;
  /** Added latency range for the `latency` fault, ms. Default [50, 800]. */
  latencyMs?: [number, number];
  /** Only requests for which this returns true may get a fault (default: all). */
  faultable?: (req: { method: string; path: string; verb: string; resource: string }) => boolean;
  /** Keep the bodies of write requests (PATCH/PUT/POST) in the records. Default true. */
  keepBodies?: boolean;
}

export interface RequestRecord {
  /** performance.now() when the request (with its body) arrived at the proxy. */
  at: number;
  /** Date.now() at the same moment, to compare with the CLI's event times. */
  wall: number;
  /** performance.now() when the answer's headers were sent (undefined: none was). */
  answeredAt?: number;
  method: string;
  /** Path without the query. */
  path: string;
  query: string;
  /** Kubernetes verb: get, list, watch, create, update, patch, delete. */
  verb: string;
  /** e.g. pods, statefulsets, jobs, configmaps, leases, selfsubjectaccessreviews, pods/log. */
  resource: string;
  namespace?: string;
  name?: string;
  /** Status the client got (undefined: the connection was dropped); for dropAfter the API server's status is in upstreamStatus. */
  status?: number;
  /** Status the API server answered, when the request was forwarded. */
  upstreamStatus?: number;
  fault?: FaultKind;
  /** Request body of writes (parsed JSON), when keepBodies. */
  body?: any;
  /** metadata.resourceVersion of the object the API server returned for a write. */
  resultResourceVersion?: string;
  /** The client was gone (killed) before this delayed request reached the API server, which still acted on it. */
  orphan?: boolean;
  /** Response body of creates (parsed), for Job uids and names. */
  result?: any;
}

export interface FaultProxy {
  readonly port: number;
  readonly url: string;
  /** A kubeconfig like the upstream one, pointing at the proxy. */
  readonly kubeconfig: string;
  readonly records: RequestRecord[];
  /** Faults injected so far, by kind. */
  readonly tally: Record<FaultKind, number>;
  /** Change the fault rates (undefined = none) from now on. */
  setFaults(faults: FaultRates | undefined): void;
  close(): Promise<void>;
}

/** Classifies an API path as Kubernetes does for authorization: verb, resource, namespace, name. */
export function classify(method: string, url: URL): { verb: string; resource: string; namespace?: string; name?: string } {
  const parts = url.pathname.split('/').filter(Boolean);
  // /api/v1/... or /apis/group/version/...
  let rest = parts[0] === 'api' ? parts.slice(2) : parts[0] === 'apis' ? parts.slice(3) : parts;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const resource = rest[2] ? `${rest[0]}/${rest[2]}` : (rest[0] ?? url.pathname);
  const name = rest[1];
  const watch = url.searchParams.get('watch');
  let verb: string;
  switch (method) {
    case 'GET':
      verb = watch === '1' || watch === 'true' ? 'watch' : name === undefined ? 'list' : 'get';
      break;
    case 'POST':
      verb = 'create';
      break;
    case 'PUT':
      verb = 'update';
      break;
    case 'PATCH':
      verb = 'patch';
      break;
    case 'DELETE':
      verb = name === undefined ? 'deletecollection' : 'delete';
      break;
    default:
      verb = method.toLowerCase();
  }
  return { verb, resource, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) };
}

/** A number in [0, 1) from a string, stable across runs. */
function unit(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0) / 2 ** 32;
}

function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const kc = loadKubeConfig(options.kubeconfig);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`${options.kubeconfig}: no current cluster`);
  const upstream = new URL(cluster.server);
  const tlsOptions: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(tlsOptions);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca: tlsOptions.ca, cert: tlsOptions.cert, key: tlsOptions.key });

  const pki = path.join(path.dirname(options.kubeconfig), 'pki');
  if (!existsSync(path.join(pki, 'apiserver.crt'))) {
    throw new Error(`fault proxy: no ${pki}/apiserver.crt: the kubeconfig must be the one test/cluster's launcher wrote in its work dir`);
  }
  const seed = options.seed ?? 0;
  const keepBodies = options.keepBodies ?? true;
  const [latMin, latMax] = options.latencyMs ?? [50, 800];
  let faults: FaultRates | undefined = options.faults;
  const seen = new Map<string, number>();
  const records: RequestRecord[] = [];
  const tally = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const sockets = new Set<import('node:stream').Duplex>();

  const choose = (method: string, url: URL, verb: string, resource: string): { fault?: FaultKind; draw2: number } => {
    // The key leaves out namespaces, names and resourceVersions, which differ from run to run: the
    // n-th `PUT configmaps` of a seed always gets the same decision.
    const key = `${method} ${verb} ${resource}`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    const draw = unit(`${seed}|${key}|${n}`);
    const draw2 = unit(`${seed}|${key}|${n}|2`);
    if (!faults || (options.faultable && !options.faultable({ method, path: url.pathname, verb, resource }))) return { draw2 };
    let acc = 0;
    for (const kind of FAULT_KINDS) {
      if (kind === 'watchCut' && verb !== 'watch') continue;
      acc += faults[kind] ?? 0;
      if (draw < acc) return { fault: kind, draw2 };
    }
    return { draw2 };
  };

  const server = https.createServer(
    { cert: readFileSync(path.join(pki, 'apiserver.crt')), key: readFileSync(path.join(pki, 'apiserver.key')) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void handle(req, res, Buffer.concat(chunks)));
    },
  );
  // A client's keep-alive socket must not be closed under it between two requests: that would be a
  // fault nobody asked for.
  server.keepAliveTimeout = 600_000;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  // Upgraded connections (pods/portforward over WebSocket, what the flow-api client uses) are tunnelled
  // to the API server as they are (headers as sent, plus the proxy's client certificate), and recorded; no fault is injected
  // into them (the faults this suite studies are those of the Kubernetes objects' requests).
  server.on('upgrade', (req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'https://proxy');
    records.push({ at: performance.now(), wall: Date.now(), method, path: url.pathname, query: url.search, ...classify(method, url) });
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const up = tls.connect({ host: upstream.hostname, port: Number(upstream.port), ca: tlsOptions.ca, cert: tlsOptions.cert, key: tlsOptions.key, servername: upstream.hostname === '127.0.0.1' ? undefined : upstream.hostname, ALPNProtocols: ['http/1.1'] }, () => {
      const lines = [`${method} ${req.url ?? '/'} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i]!;
        lines.push(`${name}: ${name.toLowerCase() === 'host' ? upstream.host : req.rawHeaders[i + 1]}`);
      }
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'https://proxy');
    const kind = classify(method, url);
    const record: RequestRecord = { at: performance.now(), wall: Date.now(), method, path: url.pathname, query: url.search, ...kind };
    records.push(record);
    if (keepBodies && body.length > 0 && method !== 'GET') {
      try {
        record.body = JSON.parse(body.toString('utf8'));
      } catch {
        /* not JSON */
      }
    }
    const { fault, draw2 } = choose(method, url, kind.verb, kind.resource);
    if (fault) {
      record.fault = fault;
      tally[fault]++;
    }
    const answer = (code: number, reason: string, headers: Record<string, string> = {}) => {
      record.status = code;
      record.answeredAt = performance.now();
      res.writeHead(code, { 'Content-Type': 'application/json', ...headers });
      res.end(statusBody(code, reason, `injected by the fault proxy (${fault})`));
    };
    switch (fault) {
      case 'status500':
        return answer(500, 'InternalError');
      case 'status503':
        return answer(503, 'ServiceUnavailable');
      case 'status429':
        return answer(429, 'TooManyRequests', { 'Retry-After': '1' });
      case 'dropBefore':
        req.socket.destroy();
        return;
      case 'latency':
        await new Promise((r) => setTimeout(r, latMin + Math.floor(draw2 * (latMax - latMin))));
        // Bytes already on the wire reach the API server even when their sender died meanwhile
        // (kill -9): forward anyway, but say so.
        if (req.socket.destroyed) record.orphan = true;
        break;
      default:
    }

    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: upstream.host };
    delete headers.connection;
    const up = https.request(
      {
        protocol: 'https:',
        hostname: upstream.hostname,
        port: upstream.port,
        method,
        path: `${url.pathname}${url.search}`,
        headers,
        agent,
      },
      (upRes) => {
        record.upstreamStatus = upRes.statusCode;
        const streaming = kind.verb === 'watch' || /[?&]follow=(1|true)/.test(url.search);
        if (fault === 'dropAfter' && !streaming) {
          // Let the API server finish (the write happened), then lose the answer.
          const got: Buffer[] = [];
          upRes.on('data', (c: Buffer) => got.push(c));
          upRes.on('end', () => {
            noteResult(record, method, Buffer.concat(got));
            req.socket.destroy();
          });
          return;
        }
        record.status = upRes.statusCode;
        record.answeredAt = performance.now();
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (streaming) {
          // The API server sends a watch's headers at once; Node would hold them until the first
          // event, and a quiet watch would look like one that never answered.
          res.flushHeaders();
          upRes.pipe(res);
          if (fault === 'watchCut' || fault === 'dropAfter') {
            const timer = setTimeout(() => {
              upRes.destroy();
              // half the cuts end the stream cleanly (as at a server-side timeout), half break it
              if (draw2 < 0.5) res.end();
              else req.socket.destroy();
            }, Math.floor(draw2 * 2_000));
            upRes.on('close', () => clearTimeout(timer));
          }
          res.on('close', () => upRes.destroy());
          return;
        }
        const got: Buffer[] = [];
        upRes.on('data', (c: Buffer) => {
          got.push(c);
          res.write(c);
        });
        upRes.on('end', () => {
          res.end();
          noteResult(record, method, Buffer.concat(got));
        });
        upRes.on('error', () => req.socket.destroy());
      },
    );
    up.on('error', () => {
      // upstream gone: the client sees a broken connection, as it would without the proxy
      req.socket.destroy();
    });
    // A watch whose client went away must not stay open upstream (res, not the keep-alive socket:
    // a listener per request on a reused socket would pile up).
    if (kind.verb === 'watch') res.on('close', () => up.destroy());
    if (body.length > 0) up.write(body);
    up.end();
  }

  function noteResult(record: RequestRecord, method: string, payload: Buffer): void {
    if (method === 'GET' || payload.length === 0) return;
    try {
      const obj = JSON.parse(payload.toString('utf8'));
      record.resultResourceVersion = obj?.metadata?.resourceVersion;
      if (method === 'POST') record.result = { metadata: obj?.metadata, kind: obj?.kind };
    } catch {
      /* not JSON */
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;

  const doc = parse(readFileSync(options.kubeconfig, 'utf8'));
  for (const c of doc.clusters ?? []) c.cluster.server = url;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'peerdb-fault-proxy-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, stringify(doc), { mode: 0o600 });

  return {
    port,
    url,
    kubeconfig,
    records,
    tally,
    setFaults(next) {
      faults = next;
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      agent.destroy();
    },
  };
}
