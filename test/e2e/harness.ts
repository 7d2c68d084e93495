/**
 * End-to-end harness: a throw-away Kubernetes control plane (test/cluster) plus thin helpers.
 *
 *   const cp = await startControlPlane();      // builds (cached) and starts etcd+apiserver+KCM+pod simulator
 *   const ns = await createNamespace(cp.kubeconfig);
 *   ...
 *   await cp.stop();
 *
 * Set PEERDB_E2E_KUBECONFIG to reuse an already running cluster (e.g. from `npm run cluster`);
 * set PEERDB_E2E_KEEP=1 to keep the cluster's work dir (logs, etcd data) after stop().
 *
 * Also the vitest globalSetup (`setup`/`teardown`): builds the binaries once and starts one control
 * plane for the whole run; test files share it through `sharedControlPlane()`.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CoordinationV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');
const buildScript = path.join(repoRoot, 'test/cluster/build.sh');

export interface ControlPlane {
  /** Admin kubeconfig (client certificate in group system:masters). */
  readonly kubeconfig: string;
  /** https://127.0.0.1:PORT */
  readonly server: string;
  /** The launcher's work dir: kube-apiserver.log, kube-controller-manager.log, launcher.log, etcd.log. */
  readonly dir: string;
  /** Stops the control plane (idempotent). The work dir is removed unless keep. */
  stop(): Promise<void>;
  /** Last lines of the component logs, for failure messages. */
  logTail(lines?: number): string;
  /**
   * Takes the kube-apiserver away (connections refused) and brings it back on the same etcd data
   * (launcher SIGUSR1/SIGUSR2). Only for a control plane this process started.
   */
  stopApiServer?(): Promise<void>;
  startApiServer?(): Promise<void>;
}

export interface StartOptions {
  /** Delay before a bound pod runs / is ready (launcher --ready-delay). Default 300ms. */
  readyDelayMs?: number;
  /** How long run-to-completion (Job) pods run (launcher --run-duration). Default 300ms. */
  runDurationMs?: number;
  /** Delay before a terminating pod disappears (launcher --delete-delay). Default 200ms. */
  deleteDelayMs?: number;
  /** Interval between simulated restarts of crash-looping containers. Default 2s. */
  crashIntervalMs?: number;
  /** Number of fake nodes. Default 3. */
  nodes?: number;
  /** Keep the work dir after stop(). Default: env PEERDB_E2E_KEEP=1. */
  keep?: boolean;
  /** Time allowed from spawning the launcher to READY. Default 120s. */
  timeoutMs?: number;
  /** Extra launcher flags. */
  args?: string[];
}

let binDirPromise: Promise<string> | undefined;

/** Builds (or finds cached) kube-apiserver, kube-controller-manager and launcher; returns the bin dir. */
export function buildControlPlane(): Promise<string> {
  binDirPromise ??= new Promise<string>((resolve, reject) => {
    const started = Date.now();
    execFile('bash', [buildScript], { maxBuffer: 64 * 1024 * 1024, timeout: 60 * 60_000 }, (err, stdout, stderr) => {
      if (err) {
        binDirPromise = undefined;
        reject(new Error(`test/cluster/build.sh failed: ${err.message}\n${tail(stderr, 60)}`));
        return;
      }
      const bin = stdout.trim().split('\n').pop() ?? '';
      if (!existsSync(path.join(bin, 'launcher'))) {
        reject(new Error(`test/cluster/build.sh printed no bin dir:\n${stdout}\n${stderr}`));
        return;
      }
      if (Date.now() - started > 5_000) process.stderr.write(stderr);
      resolve(bin);
    });
  });
  return binDirPromise;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin kubeconfig of the control plane the globalSetup started for the whole run. */
    e2eKubeconfig: string;
  }
}

let shared: ControlPlane | undefined;

/**
 * vitest globalSetup hook: build once, then start one control plane that every test file shares
 * (each test works in its own namespace), so the suite pays the start-up once. Test files get it
 * with `sharedControlPlane()`.
 */
export async function setup(project: { provide(key: 'e2eKubeconfig', value: string): void }): Promise<void> {
  const external = process.env.PEERDB_E2E_KUBECONFIG;
  if (!external) await buildControlPlane();
  shared = await startControlPlane();
  project.provide('e2eKubeconfig', shared.kubeconfig);
  if (process.env.PEERDB_E2E_KEEP === '1') process.stderr.write(`e2e control plane: ${shared.dir} (kept)\n`);
}

export async function teardown(): Promise<void> {
  await shared?.stop();
  shared = undefined;
}

/**
 * The control plane started by the globalSetup, for a test file. `stop()` is a no-op: the
 * globalSetup owns it. Outside the e2e config (no globalSetup), starts a private one.
 */
export async function sharedControlPlane(): Promise<ControlPlane> {
  const { inject } = await import('vitest');
  const kubeconfig = inject('e2eKubeconfig');
  if (!kubeconfig) return startControlPlane();
  const kc = loadKubeConfig(kubeconfig);
  return {
    kubeconfig,
    server: kc.getCurrentCluster()?.server ?? '',
    dir: path.dirname(kubeconfig),
    stop: async () => {},
    logTail: (lines = 30) =>
      ['kube-apiserver.log', 'kube-controller-manager.log', 'launcher.log']
        .map((f) => `---- ${f} ----\n${fileTail(path.join(path.dirname(kubeconfig), f), lines)}`)
        .join('\n'),
  };
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

function fileTail(file: string, lines: number): string {
  try {
    return tail(readFileSync(file, 'utf8').trimEnd(), lines);
  } catch (e) {
    return `(${(e as Error).message})`;
  }
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGTERM');
});

/** Starts a fresh control plane and resolves once the launcher prints READY. */
export async function startControlPlane(opts: StartOptions = {}): Promise<ControlPlane> {
  const external = process.env.PEERDB_E2E_KUBECONFIG;
  if (external) {
    const kc = loadKubeConfig(external);
    return {
      kubeconfig: external,
      server: kc.getCurrentCluster()?.server ?? '',
      dir: '',
      stop: async () => {},
      logTail: () => '(external cluster from PEERDB_E2E_KUBECONFIG)',
    };
  }
  const bin = await buildControlPlane();
  const keep = opts.keep ?? process.env.PEERDB_E2E_KEEP === '1';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'peerdb-e2e-'));
  const args = ['--dir', dir, '--exit-on-stdin-eof', '--nodes', String(opts.nodes ?? 3)];
  if (keep) args.push('--keep');
  if (opts.readyDelayMs !== undefined) args.push(`--ready-delay=${opts.readyDelayMs}ms`);
  if (opts.runDurationMs !== undefined) args.push(`--run-duration=${opts.runDurationMs}ms`);
  if (opts.deleteDelayMs !== undefined) args.push(`--delete-delay=${opts.deleteDelayMs}ms`);
  if (opts.crashIntervalMs !== undefined) args.push(`--crash-interval=${opts.crashIntervalMs}ms`);
  args.push(...(opts.args ?? []));

  const child = spawn(path.join(bin, 'launcher'), args, { stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  let stderr = '';
  let stdout = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  exited.then(() => running.delete(child));

  const logTail = (lines = 30): string =>
    ['kube-apiserver.log', 'kube-controller-manager.log', 'launcher.log']
      .map((f) => `---- ${f} ----\n${fileTail(path.join(dir, f), lines)}`)
      .join('\n') + `\n---- launcher stderr ----\n${tail(stderr, lines)}`;

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };

  const timeoutMs = opts.timeoutMs ?? 120_000;
  try {
    const ready = await new Promise<{ kubeconfig: string; server: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`control plane not READY after ${timeoutMs}ms`)), timeoutMs);
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        const m = /^READY kubeconfig=(\S+) server=(\S+)$/m.exec(stdout);
        if (m) {
          clearTimeout(timer);
          resolve({ kubeconfig: m[1]!, server: m[2]! });
        }
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`launcher exited with code ${code} before READY`));
      });
    });
    const launcherLog = path.join(dir, 'launcher.log');
    const signalAndWait = async (signal: NodeJS.Signals, line: RegExp): Promise<void> => {
      const before = fileTail(launcherLog, 10_000).split('\n').filter((l) => line.test(l)).length;
      child.kill(signal);
      await waitFor(() => fileTail(launcherLog, 10_000).split('\n').filter((l) => line.test(l)).length > before, { timeoutMs: 60_000, description: `the launcher to act on ${signal}` });
    };
    return {
      ...ready,
      dir,
      stop,
      logTail,
      stopApiServer: () => signalAndWait('SIGUSR1', /kube-apiserver stopped on request/),
      startApiServer: () => signalAndWait('SIGUSR2', /kube-apiserver started again on request/),
    };
  } catch (e) {
    const logs = logTail(40);
    await stop();
    throw new Error(`${(e as Error).message}\n${logs}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Client helpers

export function loadKubeConfig(kubeconfig: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return kc;
}

export interface Clients {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
  rbac: RbacAuthorizationV1Api;
  coordination: CoordinationV1Api;
}

/** Typed @kubernetes/client-node APIs for a kubeconfig. */
export function clients(kubeconfig: string): Clients {
  const kc = loadKubeConfig(kubeconfig);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    batch: kc.makeApiClient(BatchV1Api),
    rbac: kc.makeApiClient(RbacAuthorizationV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
  };
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
}

export interface RequestOptions {
  body?: unknown;
  /** Content-Type for the body; for PATCH default application/strategic-merge-patch+json. */
  contentType?: string;
  headers?: Record<string, string>;
  /** Use this bearer token instead of the kubeconfig's credentials (the CA is still trusted). */
  token?: string;
}

/**
 * A raw API request that never throws on HTTP errors: resolves {status, body}. `apiPath` is like
 * /api/v1/namespaces/x/pods or /apis/apps/v1/namespaces/x/statefulsets/y.
 */
export async function request<T = any>(kubeconfig: string, method: string, apiPath: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
  const kc = loadKubeConfig(kubeconfig);
  const server = new URL(kc.getCurrentCluster()?.server ?? '');
  const req: https.RequestOptions = {
    method,
    hostname: server.hostname,
    port: server.port,
    path: apiPath,
    headers: { Accept: 'application/json', ...opts.headers },
  };
  await kc.applyToHTTPSOptions(req);
  if (opts.token !== undefined) {
    // the client certificate would win over the token: use an agent that only trusts the CA
    delete req.cert;
    delete req.key;
    req.agent = new https.Agent({ ca: req.ca });
    req.headers = { ...req.headers, Authorization: `Bearer ${opts.token}` };
  }
  let payload: string | undefined;
  if (opts.body !== undefined) {
    payload = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    const ct = opts.contentType ?? (method === 'PATCH' ? 'application/strategic-merge-patch+json' : 'application/json');
    req.headers = { ...req.headers, 'Content-Type': ct, 'Content-Length': String(Buffer.byteLength(payload)) };
  }
  return new Promise((resolve, reject) => {
    const r = https.request(req, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (data += d));
      res.on('end', () => {
        let body: any = data;
        try {
          body = JSON.parse(data);
        } catch {
          /* plain text, e.g. pods/log */
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    r.on('error', reject);
    r.setTimeout(30_000, () => r.destroy(new Error(`${method} ${apiPath}: timed out`)));
    if (payload !== undefined) r.write(payload);
    r.end();
  });
}

/** GET an object or list as JSON; undefined on 404; throws on other errors. */
export async function getJson<T = any>(kubeconfig: string, apiPath: string): Promise<T | undefined> {
  const res = await request<T>(kubeconfig, 'GET', apiPath);
  if (res.status === 404) return undefined;
  if (res.status >= 300) throw new Error(`GET ${apiPath}: HTTP ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** PATCH (strategic merge by default); throws on HTTP errors. */
export async function patchJson<T = any>(kubeconfig: string, apiPath: string, patch: unknown, contentType?: string): Promise<T> {
  const res = await request<T>(kubeconfig, 'PATCH', apiPath, { body: patch, ...(contentType ? { contentType } : {}) });
  if (res.status >= 300) throw new Error(`PATCH ${apiPath}: HTTP ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Runs kubectl (if installed) against the kubeconfig. Resolves even on non-zero exit. */
export function kubectl(kubeconfig: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = execFile('kubectl', ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        reject(err); // e.g. ENOENT: kubectl not installed
        return;
      }
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) p.stdin?.end(input);
  });
}

/** `kubectl <args> -o json`, parsed; throws on failure. */
export async function kubectlJson<T = any>(kubeconfig: string, args: string[]): Promise<T> {
  const r = await kubectl(kubeconfig, [...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Shown in the timeout error. */
  description?: string;
}

/**
 * Polls `predicate` until it returns something other than undefined/null/false and returns that.
 * Exceptions from the predicate count as "not yet"; the last one (or the last value, when the
 * predicate returns `{ok:false}`-style describable values) is included in the timeout error.
 */
export async function waitFor<T>(predicate: () => T | undefined | null | false | Promise<T | undefined | null | false>, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await predicate();
      if (v !== undefined && v !== null && v !== false) return v;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const why = lastError ? `; last error: ${(lastError as Error).message ?? String(lastError)}` : '';
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${opts.description ?? 'condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

let nsCounter = 0;

/**
 * Creates a namespace (default: a unique e2e-* name) and waits for its `default` ServiceAccount,
 * without which ServiceAccount admission rejects pods. Returns the name.
 */
export async function createNamespace(kubeconfig: string, name?: string, labels: Record<string, string> = {}): Promise<string> {
  const ns = name ?? `e2e-${process.pid}-${Date.now().toString(36)}-${++nsCounter}`;
  const res = await request(kubeconfig, 'POST', '/api/v1/namespaces', {
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } },
  });
  if (res.status >= 300) throw new Error(`creating namespace ${ns}: HTTP ${res.status}: ${JSON.stringify(res.body)}`);
  await waitFor(() => getJson(kubeconfig, `/api/v1/namespaces/${ns}/serviceaccounts/default`), {
    description: `ServiceAccount ${ns}/default`,
  });
  return ns;
}

/** Deletes a namespace (does not wait). */
export async function deleteNamespace(kubeconfig: string, name: string): Promise<void> {
  await request(kubeconfig, 'DELETE', `/api/v1/namespaces/${name}`);
}

/**
 * Creates a ServiceAccount (if missing), optionally binds it to a ClusterRole/Role in its namespace,
 * mints a token (TokenRequest) and writes a kubeconfig using it. Returns {kubeconfig, token}.
 * Useful to run the CLI with restricted permissions.
 */
export async function serviceAccountKubeconfig(
  kubeconfig: string,
  opts: { namespace: string; name: string; clusterRole?: string; role?: string; out?: string; expirationSeconds?: number },
): Promise<{ kubeconfig: string; token: string; user: string }> {
  const { namespace, name } = opts;
  const sa = await request(kubeconfig, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } },
  });
  if (sa.status >= 300 && sa.status !== 409) throw new Error(`creating ServiceAccount: HTTP ${sa.status}: ${JSON.stringify(sa.body)}`);
  const roleRef = opts.clusterRole ?? opts.role;
  if (roleRef) {
    const rb = await request(kubeconfig, 'POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: `${name}-${roleRef}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: opts.clusterRole ? 'ClusterRole' : 'Role', name: roleRef },
        subjects: [{ kind: 'ServiceAccount', name, namespace }],
      },
    });
    if (rb.status >= 300 && rb.status !== 409) throw new Error(`creating RoleBinding: HTTP ${rb.status}: ${JSON.stringify(rb.body)}`);
  }
  const tr = await request(kubeconfig, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: opts.expirationSeconds ?? 3600 } },
  });
  if (tr.status >= 300) throw new Error(`TokenRequest: HTTP ${tr.status}: ${JSON.stringify(tr.body)}`);
  const token: string = tr.body.status.token;
  const kc = loadKubeConfig(kubeconfig);
  const cluster = kc.getCurrentCluster()!;
  const out = opts.out ?? path.join(path.dirname(kubeconfig), `kubeconfig-${namespace}-${name}`);
  const user = `system:serviceaccount:${namespace}:${name}`;
  const caData = cluster.caData ?? (cluster.caFile ? readFileSync(cluster.caFile).toString('base64') : undefined);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster.name, cluster: { server: cluster.server, 'certificate-authority-data': caData } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: `${name}@${cluster.name}`, context: { cluster: cluster.name, user, namespace } }],
    'current-context': `${name}@${cluster.name}`,
  };
  writeFileSync(out, JSON.stringify(config, null, 2), { mode: 0o600 });
  return { kubeconfig: out, token, user };
}
