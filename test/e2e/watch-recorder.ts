/**
 * An independent observer for fault-injection and benchmark runs: watches a namespace's pods,
 * Jobs or StatefulSets directly on the API server (not through the fault proxy) and records every
 * event with its arrival time and resourceVersion, so invariants can be checked after the fact in
 * the API server's own order (one etcd: resourceVersions of a namespace are comparable numbers).
 *
 *   const pods = await startWatchRecorder(cp.kubeconfig, '/api/v1/namespaces/ns/pods');
 *   ...
 *   pods.stop(); pods.events  // [{type, at, rv, object}]
 */
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { loadKubeConfig } from './harness.js';

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'SYNC';
  /** performance.now() at arrival. */
  at: number;
  /** Date.now() at arrival. */
  wall: number;
  rv: number;
  object: any;
}

export interface WatchRecorder {
  readonly events: WatchEvent[];
  /** Resolves once the first event matching `predicate` has arrived (or arrived before). */
  waitFor(predicate: (e: WatchEvent) => boolean, timeoutMs?: number): Promise<WatchEvent>;
  stop(): void;
}

/**
 * Lists `collectionPath` (its items recorded as SYNC events) and then watches it from the list's
 * resourceVersion, re-watching from the last seen one when a watch ends. Resolves once the list is in.
 */
export async function startWatchRecorder(kubeconfig: string, collectionPath: string, query: Record<string, string> = {}): Promise<WatchRecorder> {
  const kc = loadKubeConfig(kubeconfig);
  const server = new URL(kc.getCurrentCluster()!.server);
  const base: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(base);
  const agent = new https.Agent({ keepAlive: true, ca: base.ca, cert: base.cert, key: base.key });
  const events: WatchEvent[] = [];
  const waiters = new Set<{ predicate: (e: WatchEvent) => boolean; resolve: (e: WatchEvent) => void }>();
  let stopped = false;
  let current: import('node:http').ClientRequest | undefined;

  const push = (e: WatchEvent) => {
    events.push(e);
    for (const w of [...waiters]) {
      if (w.predicate(e)) {
        waiters.delete(w);
        w.resolve(e);
      }
    }
  };

  const get = (params: Record<string, string>, onLine: (line: string) => void): Promise<number> =>
    new Promise((resolve, reject) => {
      const search = new URLSearchParams({ ...query, ...params }).toString();
      const req = https.request(
        { hostname: server.hostname, port: server.port, path: `${collectionPath}?${search}`, method: 'GET', agent, headers: { Accept: 'application/json' } },
        (res) => {
          let partial = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            const lines = (partial + d).split('\n');
            partial = lines.pop() ?? '';
            for (const l of lines) if (l.trim()) onLine(l);
          });
          res.on('end', () => {
            if (partial.trim()) onLine(partial);
            resolve(res.statusCode ?? 0);
          });
          res.on('error', () => resolve(0));
        },
      );
      current = req;
      req.on('error', (e) => (stopped ? resolve(0) : reject(e)));
      req.end();
    });

  const list = async (): Promise<string> => {
    let text = '';
    const status = await get({}, (l) => (text += l));
    if (status !== 200) throw new Error(`list ${collectionPath}: HTTP ${status}: ${text.slice(0, 300)}`);
    const body = JSON.parse(text);
    const now = performance.now();
    for (const item of body.items ?? []) push({ type: 'SYNC', at: now, wall: Date.now(), rv: Number(item.metadata.resourceVersion), object: item });
    return body.metadata.resourceVersion as string;
  };

  let rv = await list();
  void (async () => {
    while (!stopped) {
      let gone = false;
      try {
        await get({ watch: '1', resourceVersion: rv, allowWatchBookmarks: 'true', timeoutSeconds: '300' }, (line) => {
          const e = JSON.parse(line);
          if (e.type === 'ERROR') {
            if (e.object?.code === 410) gone = true;
            return;
          }
          rv = e.object?.metadata?.resourceVersion ?? rv;
          if (e.type === 'BOOKMARK') return;
          push({ type: e.type, at: performance.now(), wall: Date.now(), rv: Number(e.object.metadata.resourceVersion), object: e.object });
        });
        if (gone && !stopped) rv = await list();
      } catch {
        if (!stopped) await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();

  return {
    events,
    waitFor(predicate, timeoutMs = 60_000) {
      const seen = events.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = {
          predicate,
          resolve: (e: WatchEvent) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`watch of ${collectionPath}: no matching event within ${timeoutMs}ms`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    stop() {
      stopped = true;
      current?.destroy();
      agent.destroy();
    },
  };
}

/** A pod event's view: name, ordinal, the image of `container`, Ready, revision label. */
export function podView(object: any, container: string): { name: string; ordinal: number | undefined; image: string | undefined; ready: boolean; revision: string | undefined; deleting: boolean } {
  const name: string = object.metadata.name;
  const m = /-(\d+)$/.exec(name);
  return {
    name,
    ordinal: m ? Number(m[1]) : undefined,
    image: (object.spec?.containers ?? []).find((c: any) => c.name === container)?.image,
    ready: (object.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
    revision: object.metadata.labels?.['controller-revision-hash'],
    deleting: Boolean(object.metadata.deletionTimestamp),
  };
}
