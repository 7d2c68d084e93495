// zod/mini, as every schema of the CLI: with one left on classic zod, the bundle evaluates classic's
// module code too, ~3 ms of CPU at every start (src/spec/schema.ts).
import { array, boolean, looseObject, optional, string, type z } from 'zod/mini';
import '../spec/zod-english.js';
import { ClusterError } from '../cluster/cluster-error.js';
import type { ClusterPort, PodHttpResponse, PodHttpSend } from '../cluster/port.js';
import type { ClusterSpec } from '../spec/schema.js';
import { compareText } from '../compare.js';

/**
 * PeerDB's own view of the installation, read from flow-api's HTTP gateway (PeerDB-io/peerdb
 * protos/route.proto; grpc-gateway JSON: lowerCamelCase fields, enums by name). It is reached
 * through the cluster port's podHttp (pods/portforward): nothing here knows the transport.
 */

/** One request's bound: flow-api answers from its catalog in milliseconds. */
export const FLOW_API_TIMEOUT_MS = 10_000;

/** FlowStatus values maintenance start waits on (peerdb_maintenance_wait in flow.proto). */
export const IN_BETWEEN = new Set(['STATUS_UNKNOWN', 'STATUS_PAUSING', 'STATUS_SETUP', 'STATUS_SNAPSHOT', 'STATUS_RESYNC', 'STATUS_MODIFYING']);

/** Built when flow-api is first asked: building them costs every start of the CLI a few ms otherwise. */
function buildShapes() {
  return {
    version: looseObject({ version: string() }),
    instance: looseObject({ status: string() }),
    list: looseObject({ mirrors: optional(array(looseObject({ name: string(), isCdc: optional(boolean()), status: optional(string()) }))) }),
    mirrorStatus: looseObject({ currentFlowState: optional(string()) }),
    maintenance: looseObject({
      maintenanceRunning: optional(boolean()),
      phase: optional(string()),
      pendingActivities: optional(array(looseObject({ activityName: optional(string()), heartbeatPayloads: optional(array(string())) }))),
    }),
  };
}
let builtShapes: ReturnType<typeof buildShapes> | undefined;
const shapes = () => (builtShapes ??= buildShapes());

export interface Mirror {
  readonly name: string;
  /** A FlowStatus name, e.g. STATUS_RUNNING. */
  readonly status: string;
  readonly isCdc: boolean;
}

export interface PeerDBState {
  /** INSTANCE_STATUS_READY | INSTANCE_STATUS_MAINTENANCE | INSTANCE_STATUS_UNKNOWN */
  readonly instance: string;
  /** What /v1/version reports, e.g. stable-v0.37.4. */
  readonly version: string;
  readonly mirrors: readonly Mirror[];
  /** The flow-api pod that answered. */
  readonly pod: string;
}

export interface MaintenanceProgress {
  readonly running: boolean;
  /** MAINTENANCE_PHASE_… */
  readonly phase: string;
  /** What the workflow waits for, e.g. `WaitForRunningSnapshotsAndIntermediateStates: Waiting for mirror m2 to be ready`. */
  readonly pending: readonly string[];
}

/** flow-api could not be asked (no Ready pod, refused, auth on, too old); `reason` says which. */
export class FlowApiUnreachable extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'FlowApiUnreachable';
  }
}

/**
 * A client for one flow-api pod. Each method is one exchange: its requests share one port-forward
 * (state(): instance, version, the mirror list and every mirror's status over one connection).
 */
export class FlowApi {
  constructor(
    private readonly cluster: Pick<ClusterPort, 'podHttp'>,
    private readonly namespace: string,
    readonly pod: string,
    private readonly port: number,
  ) {}

  async state(): Promise<PeerDBState> {
    return this.exchange(async (calls) => {
      const [instance, version, mirrors] = await Promise.all([calls.instanceStatus(), calls.version(), calls.mirrors()]);
      return { instance, version, mirrors, pod: this.pod };
    });
  }

  async instanceStatus(): Promise<string> {
    return this.exchange((calls) => calls.instanceStatus());
  }

  async version(): Promise<string> {
    return this.exchange((calls) => calls.version());
  }

  /** The mirror list; statuses from /v1/mirrors/status where the list does not carry them (it does not in current PeerDB). */
  async mirrors(): Promise<Mirror[]> {
    return this.exchange((calls) => calls.mirrors());
  }

  async maintenance(): Promise<MaintenanceProgress> {
    return this.exchange((calls) => calls.maintenance());
  }

  /** Asks PeerDB to resume a paused mirror (refused while maintenance mode is on). */
  async resume(name: string): Promise<void> {
    await this.exchange((calls) => calls.resume(name));
  }

  private exchange<T>(use: (calls: FlowApiCalls) => Promise<T>): Promise<T> {
    return this.cluster.podHttp(this.namespace, this.pod, this.port, (send) => use(new FlowApiCalls(send)));
  }
}

/** flow-api's calls over one exchange's `send`. */
class FlowApiCalls {
  constructor(private readonly send: PodHttpSend) {}

  async instanceStatus(): Promise<string> {
    return this.get('/v1/instance/info', shapes().instance).then((r) => r.status);
  }

  async version(): Promise<string> {
    return this.get('/v1/version', shapes().version).then((r) => r.version);
  }

  async mirrors(): Promise<Mirror[]> {
    const list = (await this.get('/v1/mirrors/list', shapes().list)).mirrors ?? [];
    // The status queries change nothing (a POST only for its body): sent together, answered in order.
    const out = await Promise.all(
      list.map(async (m): Promise<Mirror> => {
        const status = m.status ?? (await this.post('/v1/mirrors/status', { flowJobName: m.name, includeFlowInfo: false, excludeBatches: true }, shapes().mirrorStatus, { idempotent: true })).currentFlowState ?? 'STATUS_UNKNOWN';
        return { name: m.name, status, isCdc: m.isCdc ?? false };
      }),
    );
    return out.sort((a, b) => compareText(a.name, b.name));
  }

  async maintenance(): Promise<MaintenanceProgress> {
    const r = await this.get('/v1/instance/maintenance/status', shapes().maintenance);
    const pending = (r.pendingActivities ?? [])
      .filter((a) => a.activityName !== 'BackgroundAlerter')
      .map((a) => {
        const payload = (a.heartbeatPayloads ?? []).map(unquote).filter(Boolean).at(-1);
        return [a.activityName, payload].filter(Boolean).join(': ');
      });
    return { running: r.maintenanceRunning ?? false, phase: r.phase ?? 'MAINTENANCE_PHASE_UNKNOWN', pending };
  }

  async resume(name: string): Promise<void> {
    await this.request('POST', '/v1/mirrors/state_change', { flowJobName: name, requestedFlowState: 'STATUS_RUNNING' });
  }

  private async get<S extends z.ZodMiniType>(path: string, shape: S): Promise<z.infer<S>> {
    return parse(path, await this.request('GET', path), shape);
  }

  private async post<S extends z.ZodMiniType>(path: string, body: unknown, shape: S, options: { idempotent?: boolean } = {}): Promise<z.infer<S>> {
    return parse(path, await this.request('POST', path, body, options), shape);
  }

  private async request(method: 'GET' | 'POST', path: string, body?: unknown, options: { idempotent?: boolean } = {}): Promise<unknown> {
    let response: PodHttpResponse;
    try {
      response = await this.send({ method, path, ...(body === undefined ? {} : { body }), ...(options.idempotent ? { idempotent: true } : {}), timeoutMs: FLOW_API_TIMEOUT_MS });
    } catch (error) {
      // Forbidden (RBAC) is the user's to fix and stays a ClusterError; everything else means "cannot ask".
      if (error instanceof ClusterError && (error.kind === 'forbidden' || error.kind === 'unauthorized')) throw error;
      throw new FlowApiUnreachable(error instanceof Error ? error.message : String(error));
    }
    if (response.status >= 300) {
      const message = (response.body as { message?: unknown } | undefined)?.message;
      const text = typeof message === 'string' && message ? `: ${message}` : '';
      if (response.status === 401 || response.status === 403) {
        throw new FlowApiUnreachable(`flow-api refused ${method} ${path} (${response.status}${text}); is OAuth on (PEERDB_OAUTH_ISSUER_URL)?`);
      }
      if (response.status === 404 && path !== '/v1/mirrors/status') {
        throw new FlowApiUnreachable(`flow-api does not know ${method} ${path} (404): a PeerDB version without it?`);
      }
      throw new FlowApiError(`flow-api answered ${response.status} to ${method} ${path}${text}`, response.status);
    }
    return response.body;
  }
}

/** flow-api answered, but with an error (e.g. 503 "under maintenance" for a state change). */
export class FlowApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'FlowApiError';
  }
}

function parse<S extends z.ZodMiniType>(path: string, body: unknown, shape: S): z.infer<S> {
  const result = shape.safeParse(body);
  if (!result.success) throw new FlowApiUnreachable(`flow-api's answer to ${path} has an unexpected shape (${result.error.issues[0]?.path.join('.') || 'top level'}: ${result.error.issues[0]?.message})`);
  return result.data;
}

/** Temporal heartbeat payloads are JSON-encoded: `"Waiting for mirror m to be ready"`. */
function unquote(text: string): string {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'string' ? value : text;
  } catch {
    return text;
  }
}

/**
 * A client for a Ready flow-api pod of the spec's flow-api component, or FlowApiUnreachable saying
 * why there is none.
 */
export async function connectFlowApi(cluster: Pick<ClusterPort, 'getWorkload' | 'listPods' | 'podHttp'>, spec: ClusterSpec): Promise<FlowApi> {
  const component = spec.components.find((c) => c.name === spec.flowApi.component);
  if (!component) throw new FlowApiUnreachable(`the spec has no component "${spec.flowApi.component}" (spec.flowApi.component) to reach flow-api through`);
  const workload = await cluster.getWorkload(spec.namespace, component.ref);
  if (!workload) throw new FlowApiUnreachable(`${component.workload} not found in namespace ${spec.namespace}`);
  const pods = await cluster.listPods(spec.namespace, workload.selector);
  const ready = pods.filter((p) => p.ready && !p.deleting).sort((a, b) => compareText(a.name, b.name));
  if (ready.length === 0) throw new FlowApiUnreachable(`no Ready pod of ${component.workload} to ask`);
  return new FlowApi(cluster, spec.namespace, ready[0]!.name, spec.flowApi.port);
}

/** PeerDB's state, or why it could not be read. */
export type PeerDBObservation = { readonly ok: true; readonly state: PeerDBState } | { readonly ok: false; readonly reason: string };

export async function observePeerDB(cluster: Pick<ClusterPort, 'getWorkload' | 'listPods' | 'podHttp'>, spec: ClusterSpec): Promise<PeerDBObservation> {
  try {
    const api = await connectFlowApi(cluster, spec);
    return { ok: true, state: await api.state() };
  } catch (error) {
    if (error instanceof FlowApiUnreachable || error instanceof FlowApiError || error instanceof ClusterError) return { ok: false, reason: error.message };
    throw error;
  }
}

/** Whether flow-api's version is the target: `stable-v0.37.4`, `v0.37.4`, `<prefix>v0.37.4`. */
export function isVersion(reported: string, target: string): boolean {
  return reported === target || reported.endsWith(`-${target}`) || reported.endsWith(target) && /[^0-9.]$/.test(reported.slice(0, -target.length) || 'x');
}
