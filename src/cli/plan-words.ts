import type { CommandNote, PlanNote, PlanWords } from '../plan/plan-types.js';

/** What a printed command needs to work literally: the spec file as the user named it, and -n if given. */
export interface Invocation {
  /** undefined where no spec file is at hand: the command names SPEC for the user to fill in. */
  readonly specFile: string | undefined;
  readonly namespaceFlag?: string | undefined;
}

/** `-f SPEC [-n NS]`: what every command that reads the spec is given. */
export function specArgs(invocation: Invocation): string {
  return `-f ${invocation.specFile ?? 'SPEC'}${invocation.namespaceFlag === undefined ? '' : ` -n ${invocation.namespaceFlag}`}`;
}

/** The commands the plan's notes point to, complete for this invocation. */
export function nextCommands(invocation: Invocation) {
  const spec = specArgs(invocation);
  return {
    resume: `peerdb-upgrade apply ${spec} --resume`,
    applyReconciliationSuspended: `peerdb-upgrade apply ${spec} --reconciliation-suspended`,
    planText: `peerdb-upgrade plan ${spec} --output text`,
    /** init and rbac need the namespace only (init reads it; rbac needs no cluster with -n). */
    init: (namespace: string) => `peerdb-upgrade init -n ${namespace}`,
    rbac: (namespace: string) => `peerdb-upgrade rbac -n ${namespace}`,
  };
}

/** The words of the plan's notes and hints, for renderings and progress output. */
export function planWords(invocation: Invocation): PlanWords {
  const commands = nextCommands(invocation);
  const command = (note: CommandNote): string => {
    switch (note.kind) {
      case 'unfinished-run':
        return `an unfinished run to ${note.to} is recorded in ConfigMap ${note.checkpoint}${note.stoppedAt ? ` (stopped at ${note.stoppedAt})` : ''}; \`${commands.resume}\` continues it`;
      case 'uncovered-workload':
        return `${note.workload} runs PeerDB ${note.runs} and is not in the spec: it is not upgraded (add it under spec.components, or \`${commands.init(note.namespace)}\` to see what the namespace runs)`;
      case 'reconciliation-active':
        return `${note.what} manages ${note.components.join(', ')}: apply refuses unless reconciliation is suspended (\`${note.suspend}\`, then \`${commands.applyReconciliationSuspended}\`)`;
    }
  };
  return {
    note: (note: PlanNote) => (typeof note === 'string' ? note : command(note)),
    planTextCommand: commands.planText,
    applySuspendedCommand: commands.applyReconciliationSuspended,
  };
}
