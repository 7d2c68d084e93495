import type { ClusterPort } from '../cluster/port.js';
import { connectFlowApi, FlowApiError, FlowApiUnreachable, isVersion, type PeerDBState } from '../peerdb/flow-api.js';
import { short } from '../plan/mirrors-line.js';
import { formatDuration } from '../spec/duration.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { Clock } from './clock.js';
import { StepAborted } from './step-context.js';
import { StepFailure } from './step-failure.js';

/** How often PeerDB is asked again while mirrors resume. */
const VERIFY_EVERY_MS = 3_000;

export interface MirrorCheck {
  /** The mirrors that ran before the upgrade (recorded in the checkpoint); undefined when none were recorded. */
  readonly recorded: readonly string[] | undefined;
  /** flow-api's version must be this one; undefined to skip. */
  readonly version: string | undefined;
}

export interface CheckResult {
  readonly done: boolean;
  /** What is still not true, or what was found. */
  readonly status: string;
  /** Recorded mirrors not running, with their status. */
  readonly notRunning: readonly { readonly name: string; readonly status: string }[];
}

/** One look: out of maintenance, the version, every recorded mirror STATUS_RUNNING. */
export function checkPeerDB(state: PeerDBState, check: MirrorCheck): CheckResult {
  const problems: string[] = [];
  if (state.instance !== 'INSTANCE_STATUS_READY') problems.push(`instance ${short(state.instance)}`);
  if (check.version !== undefined && !isVersion(state.version, check.version)) problems.push(`flow-api reports version ${state.version}, not ${check.version}`);
  const statuses = new Map(state.mirrors.map((m) => [m.name, m.status]));
  const recorded = check.recorded ?? [];
  const notRunning = recorded.filter((n) => statuses.get(n) !== 'STATUS_RUNNING').map((name) => ({ name, status: statuses.get(name) ?? 'not found' }));
  if (notRunning.length) problems.push(`not running: ${notRunning.map((m) => `${m.name} (${m.status})`).join(', ')}`);
  if (problems.length) return { done: false, status: problems.join('; '), notRunning };
  const running = recorded.length;
  return {
    done: true,
    status: `PeerDB ${state.version} out of maintenance; ${running === 0 ? 'no mirror was running before the upgrade' : `${running} mirror${running === 1 ? '' : 's'} running again: ${recorded.join(', ')}`}`,
    notRunning: [],
  };
}

export interface VerifyInput {
  readonly cluster: ClusterPort;
  readonly spec: ClusterSpec;
  readonly check: MirrorCheck;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly deadline: number;
  /** What the check waited for, for the failure message: "maintenance end". */
  readonly after: string;
  readonly progress: (status: string) => void;
  readonly warn: (message: string) => void;
}

/**
 * PeerDB is not back as it was after maintenance end: the mirrors named still do not run (none
 * named: PeerDB itself is not back, or could not be asked). A person must look (exit 5).
 */
export class MirrorsNotBack extends StepFailure {
  constructor(
    message: string,
    readonly notRunning: readonly { readonly name: string; readonly status: string }[],
  ) {
    super(
      message,
      notRunning.length > 0
        ? `MIRRORS ARE NOT RUNNING: ${notRunning.map((m) => `${m.name} (${m.status})`).join(', ')}. PeerDB's maintenance end does not wait for mirrors to resume.`
        : 'MIRRORS MAY NOT BE RUNNING.',
    );
    this.name = 'MirrorsNotBack';
  }
}

/**
 * Asks PeerDB until the check passes or the deadline is reached. PeerDB's maintenance end resumes
 * mirrors without waiting for them and succeeds even when one does not resume: this is where that
 * is found out. Fails (MirrorsNotBack) naming each mirror not running.
 */
export async function verifyPeerDB(input: VerifyInput): Promise<string> {
  const { clock, spec } = input;
  const started = clock.now();
  let last = 'flow-api not asked yet';
  let lastResult: CheckResult | undefined;
  for (;;) {
    if (input.signal.aborted) throw new StepAborted();
    try {
      const api = await connectFlowApi(input.cluster, spec);
      lastResult = checkPeerDB(await api.state(), input.check);
      if (lastResult.done) return lastResult.status;
      last = lastResult.status;
    } catch (error) {
      if (!(error instanceof FlowApiUnreachable || error instanceof FlowApiError)) throw error;
      if (spec.flowApi.reachability === 'best-effort') {
        input.warn(`MIRRORS NOT VERIFIED: flow-api cannot be asked (${error.message}); check in the PeerDB UI that every mirror runs`);
        return `not verified: flow-api cannot be asked (spec.flowApi.reachability: best-effort)`;
      }
      last = `flow-api cannot be asked: ${error.message}`;
      lastResult = undefined;
    }
    input.progress(last);
    const now = clock.now();
    if (now >= input.deadline) break;
    await clock.sleep(Math.min(VERIFY_EVERY_MS, input.deadline - now), input.signal);
  }
  const waited = formatDuration(clock.now() - started);
  throw new MirrorsNotBack(`after ${input.after}, PeerDB is not back as it was (checked for ${waited}): ${last}`, lastResult?.notRunning ?? []);
}
