import type { Command } from 'commander';
import { stringify } from 'yaml';
import { ACCESS_RULES, HELM_RELEASE_RULE } from '../../apply/required-access.js';
import { UserError } from '../../errors.js';
import { ExitCode } from '../../exit-code.js';
import { loadSpecFile, resolveSpec } from '../../spec/load-spec.js';
import type { GlobalOptions } from '../global-options.js';
import type { CommandContext } from '../main.js';

/** The Role (and a binding) with exactly what an upgrade uses; preflight checks the same list. */
export function rbacManifests(namespace: string, serviceAccount: string | undefined, options: { readHelmReleases?: boolean } = {}): string {
  const rules = [...ACCESS_RULES, ...(options.readHelmReleases ? [HELM_RELEASE_RULE] : [])];
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'peerdb-upgrade', namespace },
    rules: rules.map((r) => ({ apiGroups: [r.group], resources: [r.resource], verbs: [...r.verbs] })),
  };
  const docs: unknown[] = [role];
  if (serviceAccount) {
    docs.push({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'peerdb-upgrade', namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'peerdb-upgrade' },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
    });
  }
  const why = rules.map((r) => `#   ${r.resource}${r.group ? `.${r.group}` : ''}: ${r.why}`).join('\n');
  const header = `# The permissions peerdb-upgrade needs in namespace ${namespace}:\n${why}\n# Preflight also creates SelfSubjectAccessReviews, which every authenticated user may do by default.\n`;
  return header + docs.map((d) => `---\n${stringify(d)}`).join('');
}

export function registerRbac(program: Command, context: CommandContext): void {
  program
    .command('rbac')
    .description("print the minimal Role (and RoleBinding) an upgrade needs, in the spec's namespace (-f), -n, or the context's")
    .option('-f, --file <spec>', 'cluster spec file (YAML): use its metadata.namespace')
    .option('--service-account <name>', 'also bind the Role to this ServiceAccount')
    .option('--read-helm-releases', 'also allow listing Secrets, to read Helm release values (broad: every Secret of the namespace)')
    .action(async (flags: { file?: string; serviceAccount?: string; readHelmReleases?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const namespace = await rbacNamespace(flags.file, globals, context.io.env);
      context.io.stdout.write(rbacManifests(namespace, flags.serviceAccount, { readHelmReleases: flags.readHelmReleases ?? false }));
      context.setExitCode(ExitCode.Success);
    });
}

/** Like every other command: -n, then the spec's metadata.namespace, then the kubeconfig context's. */
async function rbacNamespace(file: string | undefined, globals: GlobalOptions, env: NodeJS.ProcessEnv): Promise<string> {
  const fromContext = async () => {
    const { contextNamespace } = await import('../../cluster/kube-config.js');
    return contextNamespace({ kubeconfig: globals.kubeconfig, context: globals.context, env });
  };
  if (file !== undefined) {
    const document = (await loadSpecFile(file)).document;
    if (globals.namespace !== undefined || document.metadata.namespace !== undefined) {
      return resolveSpec(document, { namespaceFlag: globals.namespace }).namespace;
    }
  }
  if (globals.namespace !== undefined) return globals.namespace;
  const namespace = await fromContext();
  if (namespace === undefined) {
    throw new UserError('rbac: no namespace to write the Role for (no -n, no spec with metadata.namespace, no kubeconfig)', {
      hint: 'pass -n NAMESPACE or -f SPEC',
    });
  }
  return namespace;
}
