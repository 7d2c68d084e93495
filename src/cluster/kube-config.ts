import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { UserError } from '../errors.js';

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface KubeConfigChoice {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  /** The command has --offline (plan): the hint for a missing kubeconfig may offer it. */
  readonly offlineFlag?: boolean | undefined;
}

/**
 * Loads credentials the way kubectl does (flag, $KUBECONFIG, ~/.kube/config, in-cluster), except
 * that with none of them it refuses instead of talking to localhost:8080.
 */
export function loadKubeConfig(choice: KubeConfigChoice): { kc: KubeConfig; source: string } {
  const kc = new KubeConfig();
  let source: string;
  if (choice.kubeconfig !== undefined) {
    assertFile(choice.kubeconfig, '--kubeconfig');
    load(kc, choice.kubeconfig);
    source = choice.kubeconfig;
  } else if (choice.env.KUBECONFIG) {
    const files = choice.env.KUBECONFIG.split(delimiter).filter((f) => f && existsSync(f));
    if (files.length === 0) throw new UserError(`KUBECONFIG=${choice.env.KUBECONFIG}: no such file`, { hint: 'point KUBECONFIG at a kubeconfig file, or pass --kubeconfig' });
    load(kc, files[0]!);
    for (const file of files.slice(1)) {
      const more = new KubeConfig();
      load(more, file);
      kc.mergeConfig(more, true);
    }
    source = files.join(delimiter);
  } else if (existsSync(join(choice.env.HOME ?? homedir(), '.kube', 'config'))) {
    source = join(choice.env.HOME ?? homedir(), '.kube', 'config');
    load(kc, source);
  } else if (choice.env.KUBERNETES_SERVICE_HOST && existsSync(IN_CLUSTER_TOKEN)) {
    kc.loadFromCluster();
    source = 'in-cluster service account';
  } else {
    throw new UserError('no kubeconfig found (no --kubeconfig, no $KUBECONFIG, no ~/.kube/config, not in a pod)', {
      hint: choice.offlineFlag ? 'pass --kubeconfig FILE, or use --offline to plan without a cluster' : 'pass --kubeconfig FILE, or set KUBECONFIG',
    });
  }

  if (choice.context !== undefined) {
    if (!kc.getContextObject(choice.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new UserError(`--context ${choice.context}: no such context in ${source}${known.length ? ` (it has: ${known.join(', ')})` : ''}`);
    }
    kc.setCurrentContext(choice.context);
  }
  const current = kc.getCurrentContext();
  if (!current || !kc.getContextObject(current)) {
    const known = kc.getContexts().map((c) => c.name);
    if (known.length === 0) {
      throw new UserError(`${source}: the kubeconfig has no contexts`, { hint: 'add one with `kubectl config set-context`, or pass --kubeconfig with another file' });
    }
    throw new UserError(`${source}: no current context`, { hint: `pass --context NAME (it has: ${known.join(', ')})` });
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new UserError(`${source}: context ${current} names no cluster with a server address`);
  return { kc, source };
}

function assertFile(path: string, flag: string): void {
  if (!existsSync(path)) throw new UserError(`${flag} ${path}: no such file`);
  if (statSync(path).isDirectory()) throw new UserError(`${flag} ${path}: is a directory`);
}

function load(kc: KubeConfig, file: string): void {
  try {
    kc.loadFromFile(file);
  } catch {
    throw new UserError(`${file}: not a valid kubeconfig (it could not be parsed)`, { hint: 'check it with `kubectl config view --kubeconfig FILE`' });
  }
}

/**
 * The namespace of the chosen context, read from the kubeconfig without connecting (for commands
 * that only print, like `rbac`); undefined when there is no kubeconfig to read.
 */
export function contextNamespace(choice: KubeConfigChoice): string | undefined {
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(choice).kc;
  } catch (error) {
    // No kubeconfig at all is fine here; a broken one or a wrong --context is still an error.
    if (error instanceof UserError && error.message.startsWith('no kubeconfig found')) return undefined;
    throw error;
  }
  return kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
}
