import { formatDuration } from '../spec/duration.js';
import { isJobStep } from '../plan/plan-types.js';
import { waitUntil, type StepContext } from './step-context.js';
import { StepFailure } from './step-failure.js';
import { checkConverged, runJobsSelector } from './verify-converged.js';

/** How long the final check waits for the installation to settle (a pod restarting, say). */
export const CONVERGE_TIMEOUT_MS = 120_000;

/**
 * The `complete` step: the run says "complete" only when the installation is upgraded (see
 * verify-converged.ts). It waits a little for things still settling; what is stuck fails at once.
 */
export async function verifyConverged(context: StepContext): Promise<string> {
  const { cluster, spec, runId } = context;
  const runJobs = new Set(context.plan.steps.filter(isJobStep).map((s) => s.job));
  let last: readonly string[] = [];
  try {
    await waitUntil(
      context,
      // The run's Jobs too: one whose pods succeeded may still wait for the controller's Complete.
      [{ kind: 'pods' }, { kind: 'jobs', labelSelector: runJobsSelector(spec, runId) }],
      async () => {
        const found = await checkConverged(cluster, spec, runId, runJobs);
        last = found.problems;
        if (found.problems.length === 0) return { done: true, status: 'every pod on the target and Ready' };
        if (found.stuck) throw notDone(found.problems, context);
        return { done: false, status: `not done yet: ${found.problems.join('; ')}` };
      },
      CONVERGE_TIMEOUT_MS,
    );
  } catch (error) {
    if (error instanceof StepFailure && last.length > 0 && !/^the upgrade is not done/.test(error.message)) {
      throw notDone(last, context, `after ${formatDuration(CONVERGE_TIMEOUT_MS)}`);
    }
    throw error;
  }
  return 'every pod of every component runs the target image on the update revision and is Ready; no Job of this run is active';
}

function notDone(problems: readonly string[], context: StepContext, after?: string): StepFailure {
  return new StepFailure(
    `the upgrade is not done${after ? ` ${after}` : ''}: ${problems.join('; ')}`,
    `look at it with \`kubectl -n ${context.spec.namespace} get pods,jobs\`; once it is fixed, \`apply --resume\` checks again (it changes nothing that is already done)`,
  );
}
