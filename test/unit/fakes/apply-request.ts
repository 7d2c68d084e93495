/**
 * The apply-request set-up the executor tests share: an ApplyRequest for a spec text run against a
 * MemoryCluster on its own clock, and the outcome of a run as the CLI words it.
 */
import { readFileSync } from 'node:fs';
import type { ApplyRequest } from '../../../src/apply/apply-upgrade.js';
import type { ApplyEvent } from '../../../src/apply/events.js';
import type { RunHost } from '../../../src/apply/lock.js';
import { exitCodeOf, wordStop } from '../../../src/cli/stop-message.js';
import { UserError } from '../../../src/errors.js';
import { parseSpecText, resolveSpec } from '../../../src/spec/load-spec.js';
import type { MemoryCluster } from './memory-cluster.js';

/** This test process as the lock sees it: every pid on this host counts as alive. */
export const TEST_HOST: RunHost = { hostname: 'test-host', user: 'tester', pid: 4242, isAlive: () => true };

/** The spec file the requests read unless told otherwise: the Helm chart's installation. */
export const HELM_SPEC_FILE = 'helm-default.yaml';
export const HELM_SPEC_TEXT = readFileSync(`plans/${HELM_SPEC_FILE}`, 'utf8');

export interface RequestOptions extends Partial<ApplyRequest> {
  /** The spec text (default plans/helm-default.yaml) and the file name it is parsed as. */
  readonly text?: string;
  readonly file?: string;
  /** Aborts the run (as Ctrl-C would) once this step is done. */
  readonly abortAfterStep?: string;
  /** Called with every event, after it is collected. */
  readonly onEvent?: (event: ApplyEvent) => void;
}

export interface TestRun {
  readonly request: ApplyRequest;
  /** Every event the run emitted, in order. */
  readonly events: ApplyEvent[];
}

/**
 * A fresh-mode run that does not wait for the lock and confirms at once; anything in `options`
 * that is a field of ApplyRequest replaces the default.
 */
export function applyRequest(cluster: MemoryCluster, options: RequestOptions = {}): TestRun {
  const { text = HELM_SPEC_TEXT, file = HELM_SPEC_FILE, abortAfterStep, onEvent, ...overrides } = options;
  const loaded = parseSpecText(file, text);
  const events: ApplyEvent[] = [];
  const controller = new AbortController();
  const request: ApplyRequest = {
    cluster,
    loaded,
    spec: resolveSpec(loaded.document),
    mode: 'fresh',
    allowDowngrade: false,
    lockTimeoutMs: 0,
    dryRun: false,
    clock: cluster.clock,
    host: TEST_HOST,
    signal: controller.signal,
    emit: (event) => {
      events.push(event);
      onEvent?.(event);
      if (abortAfterStep && event.type === 'step-done' && event.step.id === abortAfterStep) controller.abort();
    },
    confirm: async () => true,
    ...overrides,
  };
  return { request, events };
}

export interface RunOutcome {
  /** The exit code the CLI would exit with (0 when the run returned). */
  readonly code: number;
  /** The message and hint as the CLI prints them; empty when the run returned. */
  readonly message: string;
  /** What the run returned. */
  readonly value?: unknown;
}

/** The outcome of a run as the CLI words it, for the spec file as the user named it. */
export async function outcomeOf(promise: Promise<unknown>, specFile = HELM_SPEC_FILE): Promise<RunOutcome> {
  try {
    const value = await promise;
    return { code: 0, message: '', value };
  } catch (thrown) {
    const error = wordStop(thrown, { specFile });
    if (error instanceof UserError) return { code: exitCodeOf(error), message: `${error.message}\n${error.hint ?? ''}` };
    throw error;
  }
}
