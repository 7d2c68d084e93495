import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { computePlan } from '../../src/plan/compute-plan.js';
import { savePlan, writeSavedPlan } from '../../src/plan/saved-plan.js';
import { parseSpecText, resolveSpec } from '../../src/spec/load-spec.js';
import { planWords } from '../../src/cli/plan-words.js';

/** The CLI's words for a plan of plans/helm-default.yaml. */
const WORDS = planWords({ specFile: 'helm-default.yaml' });

const SECRET_TOKEN = 'tok-s3cr3t-value';
const SECRET_PASSWORD = 'pw-s3cr3t';

function specWithSecrets() {
  const text = readFileSync('plans/helm-default.yaml', 'utf8').replace(
    /  initJobs:\n/,
    `  initJobs:\n    - name: seed\n      image: example.com/seed:1\n      env:\n        - { name: API_TOKEN, value: ${SECRET_TOKEN} }\n        - { name: DATABASE_URL, value: "postgres://app:${SECRET_PASSWORD}@db:5432/app" }\n`,
  );
  return parseSpecText('with-secrets.yaml', text);
}

describe('a saved plan', () => {
  it('holds no literal secret of the spec: the spec by its hash, Job env masked (also passwords in URIs)', () => {
    const loaded = specWithSecrets();
    expect(loaded.text).toContain(SECRET_TOKEN);
    const plan = computePlan(resolveSpec(loaded.document), { mode: 'offline', from: 'v0.36.7' });
    const text = savePlan({ plan, spec: loaded, allowDowngrade: false, observedFingerprint: undefined, toolVersion: '0.0.0', now: new Date(0), words: WORDS });
    expect(text).toContain('init-seed');
    expect(text).not.toContain(SECRET_TOKEN);
    expect(text).not.toContain(SECRET_PASSWORD);
    expect(text).toContain('postgres://app:****@db:5432/app');
    const saved = JSON.parse(text);
    expect(saved.spec).toEqual({ file: 'with-secrets.yaml', sha256: loaded.hash });
  });

  it('is written readable by its owner only, also over a file that was readable by all', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'peerdb-upgrade-')), 'plan.json');
    writeFileSync(file, 'old', { mode: 0o644 });
    await writeSavedPlan(file, '{}\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('{}\n');
  });
});
