import { RunStopped, type RunStop } from '../apply/run-stop.js';
import { UserError } from '../errors.js';
import { ExitCode } from '../exit-code.js';
import { nextCommands, specArgs, type Invocation } from './plan-words.js';

/** A user-facing error with the exit code the README's table gives it. */
export class ExitError extends UserError {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    hint?: string,
  ) {
    super(message, hint === undefined ? {} : { hint });
    this.name = 'ExitError';
  }
}

/**
 * The one place a stopped run becomes words, an exit code and the commands to run next. The
 * invocation is the spec as the user named it and the -n they gave (it overrides the spec's
 * namespace), so that every command printed works when followed literally.
 */
export function stopError(stop: RunStop, invocation: Invocation): ExitError {
  const f = specArgs(invocation).slice('-f '.length);
  const resume = `peerdb-upgrade apply -f ${f} --resume`;
  const endMaintenance = `peerdb-upgrade maintenance end -f ${f}`;
  const status = `peerdb-upgrade status -f ${f}`;
  switch (stop.kind) {
    case 'step-failed': {
      const lines = [`step ${stop.step} failed: ${stop.reason}`];
      if (stop.detail) lines.push(stop.detail);
      if (stop.missingAccess !== undefined) lines.push(grantRole(stop.missingAccess));
      if (stop.mirrors === 'running') return new ExitError(lines.join('\n'), ExitCode.StepFailed, `fix the cause, then: ${resume}`);
      lines.push(
        stop.mirrors === 'paused'
          ? 'MIRRORS ARE PAUSED: maintenance mode was started and has not ended. Two ways out:'
          : 'MIRRORS MAY BE PAUSED: maintenance-start ran but did not finish, so maintenance mode may be on. Two ways out:',
        `  1. fix the cause, then continue the upgrade:  ${resume}`,
        `  2. or end maintenance on the versions now running (resumes the mirrors):  ${endMaintenance}`,
      );
      return new ExitError(lines.join('\n'), ExitCode.NeedsPerson, `the checkpoint is saved; see \`${status}\``);
    }
    case 'interrupted': {
      if (stop.step === undefined) return new ExitError('interrupted before anything was changed', ExitCode.Interrupted, 'run the command again when ready');
      const note =
        stop.mirrors === 'paused'
          ? '. MIRRORS ARE PAUSED (maintenance mode is on)'
          : stop.mirrors === 'maybe-paused'
            ? '. Mirrors may be paused: the maintenance-start Job was running and goes on in the cluster'
            : '';
      return new ExitError(`interrupted at step ${stop.step}; the checkpoint is saved${note}`, ExitCode.Interrupted, `continue with: ${resume}`);
    }
    case 'locked':
      return new ExitError(
        `another run holds the lock (Lease ${stop.lease}): ${stop.holder}`,
        ExitCode.Locked,
        `wait for it (e.g. --lock-timeout 10m), or if it is dead: peerdb-upgrade unlock -f ${f} --force ${stop.runId ?? 'RUN_ID'}`,
      );
    case 'lock-lost':
      return new ExitError(
        'this run lost its lock: the Lease was released (unlock --force) or taken over by another run; stopping before the next step',
        ExitCode.NeedsPerson,
        `see who holds it and where the upgrade stands: ${status}`,
      );
    case 'checkpoint-taken':
      return new ExitError(
        `the checkpoint now belongs to run ${stop.runId} (${stop.holder}): another run is acting on this installation`,
        ExitCode.NeedsPerson,
        `stop one of the runs; then \`${status}\` shows where the other stands`,
      );
    case 'checkpoint-moved':
      return new ExitError(
        'the checkpoint kept changing while this run was planning (is another run writing it?); run the command again',
        ExitCode.Error,
        `${status} shows who holds the lock and where the last run stands`,
      );
    case 'unfinished-run': {
      const run = stop.run;
      if (stop.asked === 'saved-plan') {
        return new ExitError(`an unfinished run (${run.runId}) is recorded; a saved plan cannot be applied over it`, ExitCode.Error, `continue it: ${resume}`);
      }
      if (stop.asked === 'restart') {
        return new ExitError(
          `the unfinished run ${run.runId} started maintenance mode and did not end it: starting over would pause no mirrors and later resume none`,
          ExitCode.NeedsPerson,
          `continue it (apply -f ${f} --resume), or end maintenance first (${endMaintenance})`,
        );
      }
      return new ExitError(
        `an unfinished run ${run.runId} (to ${run.to}, ${run.state}) stopped at step ${run.stoppedAt ?? '?'}${run.error ? `: ${run.error}` : ''}.${run.mirrorsPaused ? ' MIRRORS ARE PAUSED.' : ''}`,
        ExitCode.Error,
        `continue it: ${resume} (or discard it with --restart)`,
      );
    }
    case 'target-changed':
      return new ExitError(
        `the unfinished run upgrades to ${stop.runTo}; the spec now says ${stop.specVersion}. A new target is a new upgrade: finish or end the current one first`,
        ExitCode.Error,
        `put version ${stop.runTo} back to finish it, or end maintenance with \`${endMaintenance}\``,
      );
    case 'saved-plan-offline':
      return new ExitError('this saved plan was made --offline; apply needs a plan made against the cluster', ExitCode.Error, `make one with \`peerdb-upgrade plan -f ${f} --out plan.json\``);
    case 'maintenance-failed':
      return new ExitError(
        `maintenance ${stop.mode} failed: ${stop.reason}${stop.detail ? `\n${stop.detail}` : ''}`,
        ExitCode.NeedsPerson,
        `mirrors may be paused; fix the cause and run \`peerdb-upgrade maintenance ${stop.mode} -f ${f}\` again`,
      );
    case 'maintenance-interrupted':
      return new ExitError(`interrupted while the maintenance ${stop.mode} Job ran; it goes on in the cluster`, ExitCode.Interrupted, `check it with: kubectl -n ${stop.namespace} get job ${stop.job}`);
    case 'maintenance-not-on':
      return new ExitError(
        `the maintenance start Job succeeded, but PeerDB is ${stop.instance}${stop.running.length ? ` with mirrors still running: ${stop.running.join(', ')}` : ''}`,
        ExitCode.NeedsPerson,
        `look at the Job's log (kubectl -n ${stop.namespace} logs job/${stop.job}); end maintenance with \`${endMaintenance}\``,
      );
    case 'running-version-unknown':
      return new ExitError(
        `cannot tell which version ${stop.workload} runs from its image ${stop.image} (no version in it)`,
        ExitCode.Error,
        `name it: peerdb-upgrade maintenance ${stop.mode} -f ${f} --running-version vX.Y.Z`,
      );
    case 'mirrors-not-back': {
      const lines = [stop.step === undefined ? stop.reason : `step ${stop.step} failed: ${stop.reason}`];
      if (stop.notRunning.length > 0) {
        lines.push(
          `MIRRORS ARE NOT RUNNING: ${stop.notRunning.map((m) => `${m.name} (${m.status})`).join(', ')}. PeerDB's maintenance end does not wait for mirrors to resume. Ways out:`,
          `  1. resume them:  peerdb-upgrade mirrors resume -f ${f} ${stop.notRunning.map((m) => m.name).join(' ')}   (or in the PeerDB UI: Mirrors → each mirror → Resume)`,
        );
      } else {
        lines.push('MIRRORS MAY NOT BE RUNNING. Ways out:', `  1. look at PeerDB (the UI, or \`${status}\`) and fix what is wrong`);
      }
      if (stop.step === undefined) return new ExitError(lines.join('\n'), ExitCode.NeedsPerson, `see \`${status}\``);
      lines.push(`  2. then finish the run, which verifies again:  ${resume} --yes`);
      return new ExitError(lines.join('\n'), ExitCode.NeedsPerson, `the checkpoint is saved; see \`${status}\``);
    }
    case 'mirrors-unnamed':
      return new ExitError(
        'no mirrors named, and no upgrade run recorded which mirrors ran before it',
        ExitCode.Error,
        `name them: peerdb-upgrade mirrors resume -f ${f} NAME…  (paused now: ${stop.paused.join(', ') || 'none'})`,
      );
    case 'mirrors-in-maintenance':
      return new ExitError('PeerDB is in maintenance mode: it refuses to resume mirrors until maintenance ends', ExitCode.NeedsPerson, `end it first (it resumes the mirrors it paused): ${endMaintenance}`);
    case 'mirrors-not-resumed':
      return new ExitError(stop.reason, ExitCode.NeedsPerson, stop.waited ? 'look at the mirrors in the PeerDB UI (Mirrors → each → errors)' : 'look at it in the PeerDB UI');
    case 'missing-access':
      return new ExitError(stop.reason, ExitCode.Error, grantRole(stop.namespace));
    case 'reconciliation-active':
      return new ExitError(
        `preflight: ${stop.owners.join('; ')}: it would revert the image patches during the upgrade. Nothing was changed`,
        ExitCode.Error,
        `suspend it first (${stop.suspend.join('; ')}), then: ${nextCommands(invocation).applyReconciliationSuspended}; ${stop.commit}`,
      );
  }
}

/** The way out of missing permissions: the Role `rbac` prints for the namespace (with -n it needs no cluster). */
export function grantRole(namespace: string): string {
  return `grant the Role printed by \`${nextCommands({ specFile: undefined }).rbac(namespace)}\` to the identity in the kubeconfig`;
}

/** A stopped run as the error the CLI reports; anything else unchanged. */
export function wordStop(error: unknown, invocation: Invocation): unknown {
  return error instanceof RunStopped ? stopError(error.stop, invocation) : error;
}

/** The exit code of an error the CLI reports: its own for a stopped run, 1 for other user errors. */
export function exitCodeOf(error: UserError): ExitCode {
  return error instanceof ExitError ? error.exitCode : ExitCode.Error;
}
