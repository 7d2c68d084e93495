import type { CommandNote, Step } from '../plan/plan-types.js';

/**
 * What the executor reports while it works. It never prints: the CLI renders these as a listr2
 * tree, plain log lines or JSON lines.
 */
export type ApplyEvent =
  | { type: 'run-start'; runId: string; planHash: string; steps: number; resumed: boolean; at: number }
  | { type: 'info'; message: string; at: number }
  | { type: 'warning'; message: string; at: number }
  /** A plan warning that points to a command: the CLI words it (cli/plan-words.ts). */
  | { type: 'note'; note: CommandNote; at: number }
  | { type: 'step-start'; step: Step; index: number; attempt: number; at: number }
  | { type: 'step-skip'; step: Step; index: number; reason: string; at: number }
  | { type: 'step-progress'; step: Step; message: string; elapsedMs: number; timeoutMs: number | undefined; at: number }
  | { type: 'step-done'; step: Step; index: number; message: string | undefined; elapsedMs: number; at: number }
  | { type: 'step-failed'; step: Step; index: number; error: string; detail: string | undefined; at: number }
  | { type: 'run-done'; runId: string; elapsedMs: number; at: number };

export type EmitEvent = (event: ApplyEvent) => void;
