import type { ClusterPort } from '../cluster/port.js';
import { UserError } from '../errors.js';
import { ExitCode } from '../exit-code.js';
import { connectFlowApi, FlowApiError, FlowApiUnreachable, type Mirror } from '../peerdb/flow-api.js';
import type { ClusterSpec } from '../spec/schema.js';
import { readCheckpoint } from './checkpoint-store.js';
import type { Clock } from './clock.js';

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
  readonly specFile: string;
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
      throw new UserError('no mirrors named, and no upgrade run recorded which mirrors ran before it', {
        hint: `name them: peerdb-upgrade mirrors resume -f ${request.specFile} NAME…  (paused now: ${mirrors.filter((m) => m.status === 'STATUS_PAUSED').map((m) => m.name).join(', ') || 'none'})`,
      });
    }
    names = recorded.filter((n) => mirrors.find((m) => m.name === n)?.status !== 'STATUS_RUNNING');
  }
  const unknown = names.filter((n) => !mirrors.some((m) => m.name === n));
  if (unknown.length > 0) {
    throw new UserError(`no such mirror${unknown.length === 1 ? '' : 's'} in PeerDB: ${unknown.join(', ')}`, { hint: `its mirrors: ${mirrors.map((m) => m.name).join(', ') || 'none'}` });
  }
  const instance = await api.instanceStatus().catch(unreachable);
  if (instance === 'INSTANCE_STATUS_MAINTENANCE') {
    throw new UserError('PeerDB is in maintenance mode: it refuses to resume mirrors until maintenance ends', {
      exitCode: ExitCode.NeedsPerson,
      hint: `end it first (it resumes the mirrors it paused): peerdb-upgrade maintenance end -f ${request.specFile}`,
    });
  }
  const alreadyRunning = names.filter((n) => statusOf(mirrors, n) === 'STATUS_RUNNING');
  const toResume = names.filter((n) => !alreadyRunning.includes(n));
  for (const name of toResume) {
    const status = statusOf(mirrors, name);
    if (status !== 'STATUS_PAUSED') {
      throw new UserError(`mirror ${name} is ${status}, not paused: only a paused mirror can be resumed`, { exitCode: ExitCode.NeedsPerson, hint: 'look at it in the PeerDB UI' });
    }
    try {
      await api.resume(name);
    } catch (error) {
      if (error instanceof FlowApiError) throw new UserError(`PeerDB refused to resume ${name}: ${error.message}`, { exitCode: ExitCode.NeedsPerson, hint: 'look at it in the PeerDB UI' });
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
      throw new UserError(`not running ${Math.round(RESUME_WAIT_MS / 1000)}s after the resume: ${waiting.map((n) => `${n} (${statusOf(mirrors, n)})`).join(', ')}`, {
        exitCode: ExitCode.NeedsPerson,
        hint: 'look at the mirrors in the PeerDB UI (Mirrors → each → errors)',
      });
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
