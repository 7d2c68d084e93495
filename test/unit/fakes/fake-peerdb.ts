/**
 * PeerDB as the fake shows it, per namespace: mirrors by name with their FlowStatus, maintenance
 * mode, and the mirrors maintenance start recorded. The maintenance Jobs act on it when they
 * succeed (start pauses running mirrors and records them, end resumes the recorded ones except
 * those in failsToResume), and flow-api answers over podHttp (a port-forward to a Ready pod).
 * `reachable: false` makes every podHttp fail like a refused port-forward.
 */
import type { ClusterState, Job } from './cluster-state.js';
import { ClusterError } from '../../../src/cluster/cluster-error.js';
import type { PodHttpRequest, PodHttpResponse } from '../../../src/cluster/port.js';

export interface FakePeerDB {
  mirrors: Map<string, string>;
  maintenance: boolean;
  recorded: string[];
  failsToResume: Set<string>;
  reachable: boolean;
}

export function peerdbOf(s: ClusterState, namespace: string): FakePeerDB {
  let p = s.peerdbs.get(namespace);
  if (!p) {
    p = { mirrors: new Map(), maintenance: false, recorded: [], failsToResume: new Set(), reachable: true };
    s.peerdbs.set(namespace, p);
  }
  return p;
}

/** What PeerDB's maintenance workflows do when their Job succeeds. */
export function maintenanceWorkflow(s: ClusterState, job: Job): void {
  const container = job.manifest.spec.template.spec.containers[0];
  if (!container?.image.includes('/flow-maintenance:')) return;
  const args = container.args ?? [];
  const mode = args[args.indexOf('--run-maintenance-flow') + 1];
  const p = peerdbOf(s, job.namespace);
  if (mode === 'start') {
    p.maintenance = true;
    for (const [name, status] of p.mirrors) {
      if (status !== 'STATUS_RUNNING') continue;
      p.mirrors.set(name, 'STATUS_PAUSED');
      if (!p.recorded.includes(name)) p.recorded.push(name);
    }
  } else if (mode === 'end') {
    for (const name of p.recorded) if (!p.failsToResume.has(name) && p.mirrors.get(name) === 'STATUS_PAUSED') p.mirrors.set(name, 'STATUS_RUNNING');
    p.recorded = [];
    p.maintenance = false;
  }
}

/** flow-api's HTTP API on a Ready pod of the namespace: version, instance, maintenance and mirror endpoints. */
export function flowApi(s: ClusterState, namespace: string, pod: string, port: number, request: PodHttpRequest): PodHttpResponse {
  const p = peerdbOf(s, namespace);
  const found = [...s.ns(namespace).pods.values()].find((x) => x.name === pod && x.deletedTick === undefined);
  if (!p.reachable || !found || !found.ready) {
    throw new ClusterError('network', `cannot reach pod ${namespace}/${pod} port ${port}: connection refused`);
  }
  const ok = (body: unknown): PodHttpResponse => ({ status: 200, body });
  const body = (request.body ?? {}) as { flowJobName?: string; requestedFlowState?: string };
  switch (`${request.method} ${request.path}`) {
    case 'GET /v1/version':
      return ok({ version: found.images[0]?.split(':').at(-1) ?? '' });
    case 'GET /v1/instance/info':
      return ok({ status: p.maintenance ? 'INSTANCE_STATUS_MAINTENANCE' : 'INSTANCE_STATUS_READY' });
    case 'GET /v1/instance/maintenance/status':
      return ok({ maintenanceRunning: p.maintenance, phase: p.maintenance ? 'MAINTENANCE_PHASE_MAINTENANCE_MODE_ENABLED' : 'MAINTENANCE_PHASE_UNKNOWN', pendingActivities: [] });
    case 'GET /v1/mirrors/list':
      return ok({ mirrors: [...p.mirrors.keys()].map((name, i) => ({ id: String(i + 1), name, isCdc: true })) });
    case 'POST /v1/mirrors/status':
      return p.mirrors.has(body.flowJobName ?? '') ? ok({ flowJobName: body.flowJobName, currentFlowState: p.mirrors.get(body.flowJobName!) }) : { status: 404, body: { code: 5, message: 'not found' } };
    case 'POST /v1/mirrors/state_change':
      if (p.maintenance) return { status: 503, body: { code: 14, message: 'PeerDB is under maintenance' } };
      if (body.requestedFlowState === 'STATUS_RUNNING' && p.mirrors.get(body.flowJobName ?? '') === 'STATUS_PAUSED') {
        p.mirrors.set(body.flowJobName!, 'STATUS_RUNNING');
        p.failsToResume.delete(body.flowJobName!);
      }
      return ok({});
  }
  return { status: 404, body: { code: 5, message: 'Not Found' } };
}
