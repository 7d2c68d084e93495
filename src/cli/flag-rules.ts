import { UserError } from '../errors.js';

/** The flags of `plan` whose combinations are ruled on. */
export interface PlanFlagSet {
  readonly file?: string | undefined;
  readonly offline?: boolean | undefined;
  readonly from?: string | undefined;
  readonly base?: string | undefined;
  readonly out?: string | undefined;
  readonly dryRun?: string | undefined;
  readonly helmValuesOut?: string | undefined;
  readonly helmChart?: string | undefined;
}

/** Where a plan starts from, once the flags are known to go together; throws UserError when they do not. */
export function planSourceOf(flags: PlanFlagSet): 'base' | 'offline' | 'live' {
  if (flags.base !== undefined) {
    const extra = flags.offline ? '--offline' : flags.from !== undefined ? '--from' : flags.out !== undefined ? '--out' : undefined;
    if (extra) {
      throw new UserError(`--base does not go with ${extra}: a --base plan is always offline, starts from the base spec's version, and is for review, not for apply`);
    }
  }
  if ((flags.helmValuesOut !== undefined || flags.helmChart !== undefined) && (flags.offline || flags.base !== undefined)) {
    throw new UserError(`${flags.helmValuesOut !== undefined ? '--helm-values-out' : '--helm-chart'} needs the cluster (the Helm release is read there): it does not go with --offline or --base`);
  }
  if (flags.out !== undefined && flags.offline) {
    throw new UserError('--out does not go with --offline: apply runs only a plan made against the cluster', { hint: `save one with \`peerdb-upgrade plan -f ${flags.file ?? 'SPEC'} --out ${flags.out}\`` });
  }
  if (flags.from !== undefined && !flags.offline) throw new UserError('--from goes with --offline (a live plan reads the versions from the cluster)');
  if (flags.dryRun && (flags.offline || flags.base !== undefined)) throw new UserError('--dry-run=server needs the cluster: it does not go with --offline or --base');
  return flags.base !== undefined ? 'base' : flags.offline ? 'offline' : 'live';
}

/** The flags of `apply` whose combinations are ruled on. */
export interface ApplyFlagSet {
  readonly file?: string | undefined;
  readonly plan?: string | undefined;
  readonly resume?: boolean | undefined;
  readonly restart?: boolean | undefined;
}

/** How `apply` treats an unfinished run; throws UserError when the flags contradict each other. */
export function applyModeOf(flags: ApplyFlagSet): 'fresh' | 'resume' | 'restart' {
  if (flags.resume && flags.restart) throw new UserError('--resume and --restart contradict each other: choose one');
  if (flags.plan && (flags.resume || flags.restart)) throw new UserError('--plan applies a fresh saved plan; --resume/--restart go with -f');
  if (!flags.file && !flags.plan) throw new UserError('name the spec with -f FILE, or a saved plan with --plan FILE');
  return flags.resume ? 'resume' : flags.restart ? 'restart' : 'fresh';
}
