import { Option, type Command } from 'commander';
import { firstUnfinishedStep, mirrorsPaused, type Checkpoint } from '../../apply/checkpoint.js';
import { readCheckpoint } from '../../apply/checkpoint-store.js';
import { describeLease, isExpired, runIdOf } from '../../apply/lock.js';
import { ExitCode } from '../../exit-code.js';
import { loadSpecFile } from '../../spec/load-spec.js';
import type { ClusterPort, JobState, LeaseState } from '../../cluster/port.js';
import { ClusterError } from '../../cluster/cluster-error.js';
import { isActive } from '../../apply/verify-converged.js';
import { LABEL_CLUSTER, LABEL_RUN, LABEL_STEP, MANAGED_BY } from '../../labels.js';
import type { ClusterSpec } from '../../spec/schema.js';
import { openSpecOnCluster } from '../connect.js';
import { observePeerDB, type PeerDBObservation } from '../../peerdb/flow-api.js';
import { short } from '../../plan/mirrors-line.js';
import type { GlobalOptions } from '../global-options.js';
import type { CommandContext } from '../main.js';
import { compareText } from '../../compare.js';

export function registerStatus(program: Command, context: CommandContext): void {
  program
    .command('status')
    .description('where the last or current run stands: steps, errors, the lock')
    .requiredOption('-f, --file <spec>', 'cluster spec file (YAML)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (flags: { file: string; output: 'text' | 'json' }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const { io } = context;
      const { cluster, spec } = await openSpecOnCluster(await loadSpecFile(flags.file), globals, io);
      const [stored, lease, active, peerdb] = await Promise.all([readCheckpoint(cluster, spec), cluster.getLease(spec.namespace, spec.leaseName), activeJobsOf(cluster, spec), observePeerDB(cluster, spec)]);
      const now = Date.now();
      if (flags.output === 'json') {
        io.stdout.write(
          `${JSON.stringify(
            {
              format_version: 1,
              cluster: { name: spec.name, namespace: spec.namespace },
              checkpoint: stored?.checkpoint ?? null,
              mirrors_paused: stored ? mirrorsPaused(stored.checkpoint) : false,
              active_jobs: Array.isArray(active) ? active.map((j) => ({ name: j.name, step: j.labels[LABEL_STEP] ?? null, run: j.labels[LABEL_RUN] ?? null })) : null,
              peerdb: peerdb.ok ? { reachable: true, instance: peerdb.state.instance, version: peerdb.state.version, mirrors: peerdb.state.mirrors } : { reachable: false, reason: peerdb.reason },
              lock: lease?.holderIdentity ? { holder: lease.holderIdentity, run: runIdOf(lease), acquired: lease.acquireTime ?? null, renewed: lease.renewTime ?? null, expired: isExpired(lease, now) } : null,
            },
            null,
            2,
          )}\n`,
        );
      } else {
        io.stdout.write(describeStatus(stored?.checkpoint, lease, now, flags.file, active, spec.namespace) + describePeerDB(peerdb, stored?.checkpoint, flags.file));
      }
      context.setExitCode(ExitCode.Success);
    });
}

/** PeerDB as flow-api shows it: instance, version, mirrors by status; recorded mirrors not running, with the way out. */
export function describePeerDB(peerdb: PeerDBObservation, checkpoint: Checkpoint | undefined, specFile: string): string {
  if (!peerdb.ok) return `PeerDB: flow-api cannot be asked (${peerdb.reason})\n`;
  const { state } = peerdb;
  const byStatus = new Map<string, string[]>();
  for (const m of state.mirrors) byStatus.set(m.status, [...(byStatus.get(m.status) ?? []), m.name]);
  const lines = [`PeerDB ${state.version}: ${short(state.instance)}; ${state.mirrors.length} mirror${state.mirrors.length === 1 ? '' : 's'}${state.mirrors.length ? ': ' : ''}${[...byStatus].sort(([a], [b]) => rank(a) - rank(b) || compareText(a, b)).map(([s, names]) => `${names.length} ${short(s)} (${names.join(', ')})`).join(', ')}`];
  const recorded = checkpoint?.mirrors?.running ?? [];
  const statuses = new Map(state.mirrors.map((m) => [m.name, m.status]));
  const notRunning = recorded.filter((n) => statuses.get(n) !== 'STATUS_RUNNING');
  if (notRunning.length > 0 && state.instance !== 'INSTANCE_STATUS_MAINTENANCE') {
    lines.push(`NOT RUNNING, though running before the upgrade: ${notRunning.map((n) => `${n} (${short(statuses.get(n) ?? 'not found')})`).join(', ')}`);
    lines.push(`  resume them: peerdb-upgrade mirrors resume -f ${specFile} ${notRunning.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Running mirrors first, then the rest by status name. */
const rank = (status: string) => (status === 'STATUS_RUNNING' ? 0 : 1);

const MARK: Record<string, string> = { done: '✓', failed: '✗', running: '…', pending: '·' };

/** Jobs of ours for this installation that have not finished, or why they could not be listed. */
async function activeJobsOf(cluster: ClusterPort, spec: ClusterSpec): Promise<readonly JobState[] | string> {
  try {
    const jobs = await cluster.listJobs(spec.namespace, `app.kubernetes.io/managed-by=${MANAGED_BY},${LABEL_CLUSTER}=${spec.name}`);
    return jobs.filter(isActive);
  } catch (error) {
    if (error instanceof ClusterError) return error.message;
    throw error;
  }
}

export function describeStatus(
  checkpoint: Checkpoint | undefined,
  lease: LeaseState | undefined,
  now: number,
  specFile: string,
  active: readonly JobState[] | string = [],
  namespace = '',
): string {
  const lines: string[] = [];
  if (!checkpoint) {
    lines.push('No run recorded (no checkpoint ConfigMap).');
  } else {
    const run = checkpoint.run;
    const counts = ['done', 'running', 'failed', 'pending'].map((s) => [s, checkpoint.steps.filter((x) => x.s === s).length] as const).filter(([, n]) => n > 0);
    lines.push(`Run ${run.id}: ${run.state} — ${run.from ?? 'unknown'} → ${run.to}, plan ${run.plan_hash.slice(0, 12)}`);
    lines.push(`started ${run.started_at} by ${run.holder}, last update ${run.updated_at}`);
    lines.push(`steps: ${counts.map(([s, n]) => `${n} ${s}`).join(', ')}`);
    const next = firstUnfinishedStep(checkpoint);
    for (const step of checkpoint.steps) {
      // Long pod lists: show every step that is not plain done/pending, plus the next one.
      if ((step.s === 'done' || step.s === 'pending') && step !== next && checkpoint.steps.length > 30) continue;
      lines.push(`  ${MARK[step.s]} ${step.id}${step.a > 1 ? ` (${step.a} attempts)` : ''}${step.err ? `: ${step.err}` : ''}`);
    }
    if (run.error) lines.push(`last error: ${run.error}`);
    if (mirrorsPaused(checkpoint)) {
      lines.push('MIRRORS ARE PAUSED: maintenance started and has not ended.');
      lines.push(`  continue: peerdb-upgrade apply -f ${specFile} --resume`);
      lines.push(`  or end maintenance: peerdb-upgrade maintenance end -f ${specFile}`);
    } else if (run.state !== 'done' && run.state !== 'aborted') {
      lines.push(`continue: peerdb-upgrade apply -f ${specFile} --resume`);
    }
    for (const [ref, partition] of Object.entries(checkpoint.partitions ?? {})) {
      if (partition > 0) lines.push(`${ref}: your updateStrategy.rollingUpdate.partition ${partition} is kept (set back once every pod is upgraded)`);
    }
    if (checkpoint.history.length > 0) {
      lines.push('history:');
      for (const h of checkpoint.history.slice(-5)) lines.push(`  ${h.finished} ${h.run}: ${h.from ?? '?'} → ${h.to} ${h.result}`);
    }
  }
  if (typeof active === 'string') lines.push(`Jobs: could not list them (${active})`);
  else if (active.length > 0) {
    lines.push('still active (started by peerdb-upgrade):');
    for (const job of active) lines.push(`  Job ${job.name} (${job.labels[LABEL_STEP] ?? '?'}, run ${job.labels[LABEL_RUN] ?? '?'}): kubectl -n ${namespace} get job ${job.name}`);
  }
  lines.push(lease?.holderIdentity ? `lock: held by ${describeLease(lease, now)}` : 'lock: free');
  return `${lines.join('\n')}\n`;
}
