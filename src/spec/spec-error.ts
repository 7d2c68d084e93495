import { UserError } from '../errors.js';

/** One problem in a spec file, located for the person who has to fix it. */
export interface SpecProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Dotted field path, e.g. spec.components[2].readyTimeout; '' for the document itself. */
  readonly path: string;
  readonly message: string;
}

export function formatProblem(problem: SpecProblem): string {
  const where = `${problem.file}:${problem.line}:${problem.column}`;
  return problem.path ? `${where}: ${problem.path}: ${problem.message}` : `${where}: ${problem.message}`;
}

/** A spec that cannot be used; carries every problem found, not only the first. */
export class SpecError extends UserError {
  readonly problems: readonly SpecProblem[];

  constructor(problems: readonly SpecProblem[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super([`${problems[0]?.file ?? 'spec'}: ${count}:`, ...problems.map((p) => `  ${formatProblem(p)}`)].join('\n'));
    this.name = 'SpecError';
    this.problems = problems;
  }
}
