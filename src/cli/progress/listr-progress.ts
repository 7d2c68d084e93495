import { Listr, type ListrTaskWrapper } from 'listr2';
import type { ApplyEvent } from '../../apply/events.js';
import { isComponentStep, type Plan, type Step } from '../../plan/plan-types.js';
import { stepUnits } from '../../plan/rollout-groups.js';
import { formatDuration } from '../../spec/duration.js';

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
  task?: ListrTaskWrapper<unknown, never, never>;
  skipped?: string;
}

/**
 * A listr2 task tree on a terminal. The executor drives: each task waits for its step's events,
 * so the tree shows exactly what the executor does and never runs anything itself.
 */
export class ListrProgress {
  private readonly steps = new Map<string, Deferred>();
  private readonly done: Promise<unknown>;

  constructor(plan: Plan) {
    const stepTask = (step: Step) => {
      const deferred = defer();
      this.steps.set(step.id, deferred);
      return {
        title: `${step.id}: ${step.title}`,
        task: async (_ctx: unknown, task: ListrTaskWrapper<unknown, never, never>) => {
          deferred.task = task;
          if (deferred.skipped) {
            task.skip(`${step.id}: ${deferred.skipped}`);
            return;
          }
          await deferred.promise;
          if (deferred.skipped) task.skip(`${step.id}: ${deferred.skipped}`);
        },
      };
    };
    // A concurrent group (spec.rollout.concurrent) is one task whose lanes run side by side, as the
    // executor runs them; each lane's steps one after another.
    const tasks = stepUnits(plan.steps).map((unit) => {
      if (unit.group === undefined) return stepTask(plan.steps[unit.indexes[0]!]!);
      const lanes = new Map<string, Step[]>();
      for (const index of unit.indexes) {
        const step = plan.steps[index]!;
        const lane = isComponentStep(step) ? step.component : step.id;
        lanes.set(lane, [...(lanes.get(lane) ?? []), step]);
      }
      return {
        title: `side by side: ${[...lanes.keys()].join(', ')}`,
        task: (_ctx: unknown, task: ListrTaskWrapper<unknown, never, never>) =>
          task.newListr(
            [...lanes.entries()].map(([lane, steps]) => ({
              title: lane,
              task: (_c: unknown, laneTask: ListrTaskWrapper<unknown, never, never>) => laneTask.newListr(steps.map(stepTask) as never, { concurrent: false, exitOnError: true }),
            })) as never,
            { concurrent: true, exitOnError: true },
          ),
      };
    });
    const listr = new Listr(tasks as never, { concurrent: false, exitOnError: true, rendererOptions: { collapseSubtasks: false, showErrorMessage: true } as never });
    this.done = listr.run().catch(() => undefined);
  }

  handle(event: ApplyEvent): void {
    if (!('step' in event)) return;
    const deferred = this.steps.get(event.step.id);
    if (!deferred) return;
    switch (event.type) {
      case 'step-skip':
        deferred.skipped = event.reason;
        deferred.resolve();
        break;
      case 'step-progress':
        if (deferred.task) deferred.task.output = `${event.message} (${formatDuration(event.elapsedMs)}${event.timeoutMs ? ` of ${formatDuration(event.timeoutMs)}` : ''})`;
        break;
      case 'step-done':
        deferred.resolve();
        break;
      case 'step-failed':
        deferred.reject(new Error(event.error));
        break;
      default:
        break;
    }
  }

  /** Stops the tree: steps that never ran are left as they are. */
  async close(): Promise<void> {
    for (const deferred of this.steps.values()) deferred.reject(new Error('stopped'));
    await this.done;
  }
}

function defer(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
