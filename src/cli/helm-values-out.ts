// fs.promises, read when called: loading node:fs/promises costs every start ~6 ms (scripts/build.mjs).
import { promises as fsp } from 'node:fs';
import { UserError } from '../errors.js';
import type { Plan } from '../plan/plan-types.js';
import { helmValuesFile } from '../plan/render-ownership.js';
import type { CliIO } from './io.js';

/** `--helm-values-out FILE`: the values that make each Helm release agree, or a word on why there are none. */
export async function writeHelmValues(io: CliIO, file: string, plan: Plan): Promise<void> {
  const text = helmValuesFile(plan.ownership);
  if (text === undefined) {
    const why = (plan.ownership?.helm.length ?? 0) === 0 ? 'no Helm release owns the workloads' : 'every Helm release already agrees, or its keys are not known (see the helm: lines)';
    io.stderr.write(`--helm-values-out ${file}: not written: ${why}\n`);
    return;
  }
  try {
    await fsp.writeFile(file, text);
  } catch (error) {
    throw new UserError(`--helm-values-out ${file}: cannot write (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  io.stderr.write(`wrote the Helm values to ${file}\n`);
}
