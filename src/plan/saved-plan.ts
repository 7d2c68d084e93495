import type { z } from 'zod/mini';
// zod/mini, as every schema of the CLI: with one left on classic zod, the bundle evaluates classic's
// module code too, ~3 ms of CPU at every start (src/spec/schema.ts).
import { boolean, enum as zEnum, literal, looseObject, nullable, object, optional, string } from 'zod/mini';
import '../spec/zod-english.js';
// fs.promises, read when called: loading node:fs/promises costs every start ~6 ms (scripts/build.mjs).
import { promises as fsp } from 'node:fs';
import { UserError } from '../errors.js';
import { parseJson } from '../json.js';
import type { LoadedSpec } from '../spec/load-spec.js';
import { planDocument } from './render-json.js';
import type { Plan, PlanWords } from './plan-types.js';

export const SAVED_PLAN_FORMAT_VERSION = 1;

/**
 * A plan saved by `plan --out`. It names the spec file and records its sha256 (not its text: a spec
 * may hold literal secrets, and a saved plan travels as a CI artifact), so that `apply --plan` reads
 * the very same spec, re-plans against the cluster and applies only if the result is the very same
 * plan (same hash); a plan that the cluster has moved away from is refused, not half-applied. The
 * plan inside has its Job env masked. Files of earlier versions that carry `text` are still read.
 * The schema is built when a saved plan is first read: building it cost every start of the CLI ~4 ms.
 */
const buildSchema = () =>
  object({
    format_version: literal(SAVED_PLAN_FORMAT_VERSION),
    kind: literal('peerdb-upgrade-saved-plan'),
    created_at: string(),
    tool_version: string(),
    spec: object({ file: string(), sha256: string(), text: optional(string()) }),
    options: object({ allow_downgrade: boolean() }),
    observed_fingerprint: nullable(string()),
    plan: looseObject({ plan_hash: string(), mode: zEnum(['offline', 'live']) }),
  });
let schema: ReturnType<typeof buildSchema> | undefined;
export type SavedPlan = z.infer<ReturnType<typeof buildSchema>>;

export function savePlan(input: {
  plan: Plan;
  spec: LoadedSpec;
  allowDowngrade: boolean;
  observedFingerprint: string | undefined;
  toolVersion: string;
  now: Date;
  /** The words of the plan's notes, as the plan output shows them. */
  words: PlanWords;
}): string {
  const saved: SavedPlan = {
    format_version: SAVED_PLAN_FORMAT_VERSION,
    kind: 'peerdb-upgrade-saved-plan',
    created_at: input.now.toISOString(),
    tool_version: input.toolVersion,
    spec: { file: input.spec.file, sha256: input.spec.hash },
    options: { allow_downgrade: input.allowDowngrade },
    observed_fingerprint: input.observedFingerprint ?? null,
    plan: planDocument(input.plan, input.words) as SavedPlan['plan'],
  };
  return `${JSON.stringify(saved, null, 2)}\n`;
}

/** Writes a saved plan readable by its owner only (also when the file was there before). */
export async function writeSavedPlan(file: string, text: string): Promise<void> {
  await fsp.writeFile(file, text, { mode: 0o600 });
  await fsp.chmod(file, 0o600);
}

/** The file is not JSON at all: the CLI says how to make a saved plan. */
export class NotASavedPlan extends UserError {
  constructor(readonly file: string) {
    super(`${file}: not a saved plan (not JSON)`);
    this.name = 'NotASavedPlan';
  }
}

export function readSavedPlan(file: string, text: string): SavedPlan {
  const value = parseJson(text, () => new NotASavedPlan(file));
  const result = (schema ??= buildSchema()).safeParse(value);
  if (!result.success) {
    const version = (value as { format_version?: unknown } | null)?.format_version;
    if (typeof version === 'number' && version !== SAVED_PLAN_FORMAT_VERSION) {
      throw new UserError(`${file}: saved plan format ${version} is not supported by this version (reads format ${SAVED_PLAN_FORMAT_VERSION})`);
    }
    const issue = result.error.issues[0]!;
    throw new UserError(`${file}: not a valid saved plan: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return result.data;
}
