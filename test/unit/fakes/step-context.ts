import type { StepContext } from '../../../src/apply/step-context.js';
import type { Clock } from '../../../src/apply/clock.js';
import type { ClusterPort } from '../../../src/cluster/port.js';
import type { Plan, Step } from '../../../src/plan/plan-types.js';
import type { ClusterSpec } from '../../../src/spec/schema.js';

/** The context an executor step runs in: namespace `namespace` of cluster "peerdb", a plan of `steps`, run "run-1", never stopped. */
export function stepContext<S extends Step>(cluster: ClusterPort, clock: Clock, namespace: string, step: S, steps: readonly Step[] = [step]): StepContext<S> {
  return {
    cluster,
    spec: { namespace, name: 'peerdb' } as ClusterSpec,
    plan: { hash: '0123456789abcdef', steps } as unknown as Plan,
    step,
    runId: 'run-1',
    clock,
    signal: new AbortController().signal,
    emit: () => undefined,
    startedAt: clock.now(),
    runDeadline: undefined,
  };
}
