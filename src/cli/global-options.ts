import { Option, type Command } from 'commander';
import { UserError } from '../errors.js';
import { parseDuration } from '../spec/duration.js';

export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  color: boolean;
  /** --api-outage: how long the API server may be away before a command gives up (ms). */
  apiOutage?: number;
}

export function addGlobalOptions(program: Command): Command {
  return program
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: the current context)')
    .option('-n, --namespace <name>', "namespace (default: the spec's metadata.namespace, then the context's)")
    .option('--no-color', 'no colours (also: NO_COLOR=1)')
    .option('--api-outage <duration>', 'how long the API server may be unreachable before a command gives up (default 3m)', durationArgument('--api-outage'));
}

export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['text', 'json', 'markdown']).default('text');
}

/** A commander argument parser for durations like 90s, 15m, 2h. */
export function durationArgument(flag: string) {
  return (value: string): number => {
    const ms = parseDuration(value);
    if (ms === undefined) throw new UserError(`${flag} ${value}: expected a duration such as 90s, 15m or 2h`);
    return ms;
  };
}
