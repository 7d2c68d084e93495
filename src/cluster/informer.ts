import type http from 'node:http';
import { isClusterError } from './cluster-error.js';
import type { KubeHttp } from './kube-http.js';
import type { Sleep } from './retry.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** After this many failures in a row (LIST or WATCH, nothing received in between), the informer gives up. */
export const INFORMER_MAX_FAILURES = 8;
/** A watch is re-opened (from where it stood) this often, as client-go's reflector does, so a silently dead connection does not last. */
const WATCH_SECONDS = 60;
/**
 * How long a first LIST answers reads that follow no write of ours, while its WATCH is still being
 * opened: such a read is as fresh as a GET made when the LIST was answered, and the start of a run
 * need not wait for four WATCHes to connect before it can plan (issue 14, the start).
 */
export const FIRST_LIST_FRESH_MS = 1_000;

export interface InformerOptions<T> {
  /** Collection path, e.g. `/api/v1/namespaces/peerdb/pods`. */
  readonly path: string;
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
  /** What is watched, for messages. */
  readonly what: string;
  /** Maps an object once, when it arrives: reads cost nothing per object afterwards. */
  readonly convert: (obj: Json) => T;
  readonly sleep: Sleep;
}

export type InformerState = 'listing' | 'connecting' | 'watching' | 'reconnecting' | 'stopped';

/**
 * A watch-fed cache of one collection, as client-go's informers keep them: one LIST, then one
 * long-lived WATCH from the LIST's resourceVersion, events applied as they come. A watch that ends
 * is opened again from the last resourceVersion seen; one the API server no longer serves
 * (410 Gone, "too old resource version") starts over with a LIST. Failures back off; after
 * INFORMER_MAX_FAILURES in a row the informer stops (`state` = stopped) and its users read directly.
 *
 * The cache is only as good as what it has seen, so it says so: `resourceVersion` is the newest
 * version applied, and `current(rv)` tells whether it has seen everything up to `rv` (a write of
 * ours) over a watch that is connected now.
 */
export class Informer<T> {
  private readonly items = new Map<string, { obj: T; rv: string }>();
  private rv: string | undefined;
  private status: InformerState = 'listing';
  private failures = 0;
  private readonly controller = new AbortController();
  private readonly listeners = new Set<(name: string | undefined, obj: T | undefined) => void>();
  private everWatched = false;
  /** When the last LIST was answered (Date.now()). */
  private listedAt = -Infinity;
  /** LISTs and WATCH requests made, for tests and the bench. */
  readonly requests = { list: 0, watch: 0 };

  constructor(
    private readonly http: KubeHttp,
    private readonly options: InformerOptions<T>,
  ) {
    void this.run();
  }

  get state(): InformerState {
    return this.status;
  }

  /** Whether its watch was ever connected: a cache not yet filled is given longer to catch up. */
  get synced(): boolean {
    return this.everWatched;
  }

  /** The newest resourceVersion applied (from the LIST, an event or a bookmark). */
  get resourceVersion(): string | undefined {
    return this.rv;
  }

  /** Every object, as last seen. */
  values(): T[] {
    return [...this.items.values()].map((x) => x.obj);
  }

  get(name: string): T | undefined {
    return this.items.get(name)?.obj;
  }

  /**
   * Whether the cache has seen everything up to `atLeast` (our last write; undefined: none) and
   * its watch is connected, so nothing newer is on the way unseen for longer than the watch's own
   * delivery.
   */
  current(atLeast: string | undefined): boolean {
    if (this.rv === undefined) return false;
    if (this.status === 'watching') return atLeast === undefined || compareVersions(this.rv, atLeast) >= 0;
    // The first LIST, its WATCH not yet connected: see FIRST_LIST_FRESH_MS. After a write of ours,
    // or once a watch has run (a later LIST or reconnect holds what may be long past), only a
    // connected watch will do.
    return atLeast === undefined && this.status === 'connecting' && !this.everWatched && Date.now() - this.listedAt <= FIRST_LIST_FRESH_MS;
  }

  /** Resolves when `current(atLeast)` holds, or with false after `timeoutMs` or when the informer stops. */
  async waitCurrent(atLeast: string | undefined, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.current(atLeast)) {
      const left = deadline - Date.now();
      if (left <= 0 || this.status === 'stopped') return false;
      // Never connected and already failing: not worth the wait of a first fill.
      if (this.status === 'reconnecting' && !this.everWatched) return false;
      await this.changed(left);
    }
    return true;
  }

  /**
   * Resolves at the next change (an event for `name`, or for an object `name` accepts when it is a
   * test, or any when undefined; a re-list or a stop counts as a change), or after `timeoutMs`.
   */
  changed(timeoutMs: number, name?: string | ((name: string, obj: T) => boolean), signal?: AbortSignal): Promise<void> {
    if (this.status === 'stopped' || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const listener = (changed: string | undefined, obj: T | undefined) => {
        if (name === undefined || changed === undefined) done();
        else if (typeof name === 'string' ? changed === name : obj !== undefined && name(changed, obj)) done();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.listeners.add(listener);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  stop(): void {
    if (this.isStopped()) return;
    this.status = 'stopped';
    this.controller.abort();
    this.notify(undefined);
  }

  private notify(name: string | undefined, obj?: T): void {
    for (const listener of [...this.listeners]) listener(name, obj);
  }

  private async run(): Promise<void> {
    let needList = true;
    while (!this.isStopped()) {
      try {
        if (needList) {
          this.status = 'listing';
          await this.list();
          needList = false;
          if (this.isStopped()) return;
          // Told only now that the LIST is in, so a reader woken by it may take it (see current()).
          this.status = 'connecting';
          this.notify(undefined);
        }
        if (this.isStopped()) return;
        this.status = 'connecting';
        const outcome = await this.watch();
        if (outcome === 'gone') needList = true;
        if (outcome !== 'failed') continue;
      } catch (error) {
        if (isClusterError(error, 'gone')) needList = true;
        // Not allowed (a Role without list or watch here): asking again cannot help.
        if (isPermanent(error)) {
          this.stop();
          return;
        }
      }
      if (this.isStopped()) return;
      this.status = 'reconnecting';
      this.notify(undefined);
      this.failures++;
      if (this.failures >= INFORMER_MAX_FAILURES) {
        this.stop();
        return;
      }
      await this.options.sleep(Math.min(5_000, 100 * 2 ** this.failures), this.controller.signal);
    }
  }

  private isStopped(): boolean {
    return this.status === 'stopped';
  }

  private async list(): Promise<void> {
    this.requests.list++;
    const list = await this.http.call<Json>('GET', this.options.path, {
      query: { labelSelector: this.options.labelSelector || undefined, fieldSelector: this.options.fieldSelector },
      what: this.options.what,
      signal: this.controller.signal,
    });
    this.items.clear();
    for (const obj of (list.items ?? []) as Json[]) this.put(obj);
    this.rv = list.metadata?.resourceVersion;
    this.listedAt = Date.now();
    this.failures = 0;
  }

  private put(obj: Json): T | undefined {
    const name = obj.metadata?.name;
    if (typeof name !== 'string') return undefined;
    const converted = this.options.convert(obj);
    this.items.set(name, { obj: converted, rv: String(obj.metadata?.resourceVersion ?? '') });
    return converted;
  }

  /** One WATCH request: resolves when it ends ('ended'), the version is gone ('gone'), or it broke ('failed'). */
  private async watch(): Promise<'ended' | 'gone' | 'failed'> {
    this.requests.watch++;
    let response: http.IncomingMessage;
    try {
      response = await this.http.stream(this.options.path, {
        query: {
          watch: 1,
          resourceVersion: this.rv,
          allowWatchBookmarks: true,
          timeoutSeconds: WATCH_SECONDS,
          labelSelector: this.options.labelSelector || undefined,
          fieldSelector: this.options.fieldSelector,
        },
        what: `watch of ${this.options.what}`,
        signal: this.controller.signal,
        noRetry: true,
      });
    } catch (error) {
      if (isPermanent(error)) throw error;
      return isClusterError(error, 'gone') ? 'gone' : 'failed';
    }
    // A watch must not keep the process alive: whoever waits on it holds a timer of its own.
    response.socket?.unref();
    if (this.isStopped()) {
      response.destroy();
      return 'ended';
    }
    this.status = 'watching';
    this.everWatched = true;
    this.notify(undefined);
    const opened = Date.now();
    let events = 0;
    return new Promise((resolve) => {
      let buffer = '';
      let settled = false;
      const finish = (outcome: 'ended' | 'gone' | 'failed') => {
        if (settled) return;
        settled = true;
        response.destroy();
        // A watch cut at once, before anything came, is a failure: it backs off and counts, so a
        // server (or a proxy) that closes every watch cannot make this loop spin.
        resolve(outcome === 'ended' && events === 0 && Date.now() - opened < 1_000 ? 'failed' : outcome);
      };
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (!line) continue;
          let event: { type?: string; object?: Json };
          try {
            event = JSON.parse(line);
          } catch {
            return finish('failed');
          }
          events++;
          const outcome = this.apply(event);
          if (outcome) return finish(outcome);
        }
      });
      response.on('end', () => finish('ended'));
      response.on('close', () => finish('ended'));
      response.on('error', () => finish('failed'));
    });
  }

  private apply(event: { type?: string; object?: Json }): 'gone' | 'failed' | undefined {
    const obj = event.object ?? {};
    if (event.type === 'ERROR') return obj.code === 410 ? 'gone' : 'failed';
    const rv = obj.metadata?.resourceVersion;
    const name = obj.metadata?.name;
    let converted: T | undefined;
    if (event.type === 'ADDED' || event.type === 'MODIFIED') converted = this.put(obj);
    else if (event.type === 'DELETED') {
      converted = this.items.get(name)?.obj;
      this.items.delete(name);
    } else if (event.type !== 'BOOKMARK') return undefined;
    if (typeof rv === 'string' && rv) this.rv = rv;
    this.failures = 0;
    if (event.type === 'BOOKMARK') this.notify(undefined);
    else this.notify(name, converted);
    return undefined;
  }
}

/** A LIST or WATCH refused for good (no permission, no such collection): trying again cannot help. */
function isPermanent(error: unknown): boolean {
  return isClusterError(error, 'forbidden') || isClusterError(error, 'unauthorized') || isClusterError(error, 'not-found');
}

/**
 * Orders two resourceVersions. They are opaque to clients in general; etcd-backed API servers
 * hand out integers, which is what is compared here. Anything else compares as "not newer", so
 * a cache never claims to be current on a version it cannot read.
 */
export function compareVersions(a: string, b: string): number {
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return a === b ? 0 : -1;
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
