import type { ClusterPort } from '../cluster/port.js';
import { UserError } from '../errors.js';
import { connectFlowApi, FlowApiError, FlowApiUnreachable, type Mirror } from '../peerdb/flow-api.js';
import type { ClusterSpec } from '../spec/schema.js';
import { readCheckpoint } from './checkpoint-store.js';
import type { Clock } from './clock.js';
import { RunStopped } from './run-stop.js';

/** How long `mirrors resume` waits for the mirrors it resumed to report STATUS_RUNNING. */
const RESUME_WAIT_MS = 120_000;
const RESUME_POLL_MS = 2_000;

export interface ResumeRequest {
  readonly cluster: ClusterPort;
  readonly spec: ClusterSpec;
  /** Names given; empty = the mirrors the last run recorded as running that do not run now. */
  readonly names: readonly string[];
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly progress: (message: string) => void;
}

export interface ResumeOutcome {
  readonly resumed: readonly string[];
  readonly alreadyRunning: readonly string[];
}

/**
 * `mirrors resume`: asks PeerDB (POST /v1/mirrors/state_change, STATUS_RUNNING) to resume paused
 * mirrors, then waits until they run. The way out when maintenance end left mirrors paused.
 */
export async function resumeMirrors(request: ResumeRequest): Promise<ResumeOutcome> {
  const { cluster, spec, clock } = request;
  const api = await connectOrExplain(cluster, spec);
  let mirrors = await api.mirrors().catch(unreachable);
  let names = [...request.names];
  if (names.length === 0) {
    const recorded = (await readCheckpoint(cluster, spec))?.checkpoint.mirrors?.running;
    if (!recorded) {
      throw new RunStopped({ kind: 'mirrors-unnamed', paused: mirrors.filter((m) => m.status === 'STATUS_PAUSED').map((m) => m.name) });
    }
    names = recorded.filter((n) => mirrors.find((m) => m.name === n)?.status !== 'STATUS_RUNNING');
  }
  const unknown = names.filter((n) => !mirrors.some((m) => m.name === n));
  if (unknown.length > 0) {
    throw new UserError(`no such mirror${unknown.length === 1 ? '' : 's'} in PeerDB: ${unknown.join(', ')}`, { hint: `its mirrors: ${mirrors.map((m) => m.name).join(', ') || 'none'}` });
  }
  const instance = await api.instanceStatus().catch(unreachable);
  if (instance === 'INSTANCE_STATUS_MAINTENANCE') {
    throw new RunStopped({ kind: 'mirrors-in-maintenance' });
  }
  const alreadyRunning = names.filter((n) => statusOf(mirrors, n) === 'STATUS_RUNNING');
  const toResume = names.filter((n) => !alreadyRunning.includes(n));
  for (const name of toResume) {
    const status = statusOf(mirrors, name);
    if (status !== 'STATUS_PAUSED') {
      throw new RunStopped({ kind: 'mirrors-not-resumed', reason: `mirror ${name} is ${status}, not paused: only a paused mirror can be resumed`, waited: false });
    }
    try {
      await api.resume(name);
    } catch (error) {
      if (error instanceof FlowApiError) throw new RunStopped({ kind: 'mirrors-not-resumed', reason: `PeerDB refused to resume ${name}: ${error.message}`, waited: false });
      throw unreachableError(error);
    }
    request.progress(`asked PeerDB to resume ${name}`);
  }
  const deadline = clock.now() + RESUME_WAIT_MS;
  for (;;) {
    mirrors = await api.mirrors().catch(unreachable);
    const waiting = toResume.filter((n) => statusOf(mirrors, n) !== 'STATUS_RUNNING');
    if (waiting.length === 0) return { resumed: toResume, alreadyRunning };
    if (clock.now() >= deadline || request.signal.aborted) {
      throw new RunStopped({ kind: 'mirrors-not-resumed', reason: `not running ${Math.round(RESUME_WAIT_MS / 1000)}s after the resume: ${waiting.map((n) => `${n} (${statusOf(mirrors, n)})`).join(', ')}`, waited: true });
    }
    request.progress(`waiting for ${waiting.join(', ')} to run`);
    await clock.sleep(RESUME_POLL_MS, request.signal);
  }
}

function statusOf(mirrors: readonly Mirror[], name: string): string {
  return mirrors.find((m) => m.name === name)?.status ?? 'not found';
}

async function connectOrExplain(cluster: ClusterPort, spec: ClusterSpec) {
  try {
    return await connectFlowApi(cluster, spec);
  } catch (error) {
    throw unreachableError(error);
  }
}

function unreachable(error: unknown): never {
  throw unreachableError(error);
}

function unreachableError(error: unknown): unknown {
  if (error instanceof FlowApiUnreachable || error instanceof FlowApiError) {
    return new UserError(`flow-api cannot be asked: ${error.message}`, { hint: 'resume the mirrors in the PeerDB UI (Mirrors → each mirror → Resume)' });
  }
  return error;
}
