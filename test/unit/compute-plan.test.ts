import { describe, expect, it } from 'vitest';
import { computePlan, type PlanBasis } from '../../src/plan/compute-plan.js';
import { isJobStep, type JobStep, type Plan } from '../../src/plan/plan-types.js';
import { LABEL_PLAN } from '../../src/labels.js';
import { stepHash } from '../../src/apply/checkpoint.js';
import type { WorkloadState } from '../../src/cluster/types.js';
import { specFromPlans, specFromText } from './fakes/specs.js';
import { deployment, helmInstallation, image, pod, statefulSet } from './fakes/workloads.js';
import { HELM_STEP_IDS } from '../helm-step-ids.js';
import { skipDefaults } from './fakes/skip-defaults.js';

const observed = (workloads: Map<string, WorkloadState | undefined>): PlanBasis => ({ mode: 'live', observed: { workloads } });
const jobStep = (plan: Plan, id: string): JobStep => {
  const step = plan.steps.find((s) => s.id === id);
  if (!step || !isJobStep(step)) throw new Error(`no Job step ${id}`);
  return step;
};
const ids = (plan: { steps: readonly { id: string }[] }) => plan.steps.map((s) => s.id);

describe('offline plans', () => {
  it('orders maintenance, init jobs, components and the end of maintenance', () => {
    const plan = computePlan(specFromPlans('helm-default.yaml'), { mode: 'offline', from: 'v0.36.7' });
    expect(ids(plan)).toEqual([
      'preflight',
      'maintenance-start',
      'init-job/catalog-migrations',
      'deployment-rollout/flow-api',
      'deployment-rollout/flow-worker',
      'statefulset-prepare/flow-snapshot-worker',
      'statefulset-pod/flow-snapshot-worker/0',
      'deployment-rollout/peerdb-server',
      'deployment-rollout/peerdb-ui',
      'maintenance-end',
      'verify-mirrors',
      'complete',
    ]);
    expect(plan.mode).toBe('offline');
    expect(plan.from).toBe('v0.36.7');
    expect(plan.summary).toEqual({ steps: 12, jobs: 3, components: 5, podRestarts: 5 });
  });

  it.each([
    [0, []],
    [1, ['statefulset-pod/w/0']],
    [5, ['statefulset-pod/w/4', 'statefulset-pod/w/3', 'statefulset-pod/w/2', 'statefulset-pod/w/1', 'statefulset-pod/w/0']],
  ])('a StatefulSet with %i replicas gets a prepare step and one step per pod, highest ordinal first', (replicas, podSteps) => {
    const spec = specFromText(`  version: v0.37.4\n  components:\n    - { name: w, workload: StatefulSet/w, replicas: ${replicas} }\n${skipDefaults()}`);
    const plan = computePlan(spec, { mode: 'offline', from: 'v0.36.7' });
    expect(ids(plan)).toEqual(['preflight', 'statefulset-prepare/w', ...podSteps, 'complete']);
    const prepare = plan.steps[1]!;
    expect(prepare.changes).toContainEqual({ object: 'StatefulSet/w', field: 'updateStrategy.rollingUpdate.partition', from: 0, to: replicas });
    const partitions = plan.steps.filter((s) => s.kind === 'statefulset-pod').map((s) => s.changes[0]);
    expect(partitions.map((c) => [c?.from, c?.to])).toEqual(podSteps.map((_, i) => [replicas - i, replicas - i - 1]));
  });

  it('without --from warns that downgrades cannot be checked and shows unknown current images', () => {
    const plan = computePlan(specFromPlans('no-maintenance.yaml'), { mode: 'offline' });
    expect(plan.warnings[0]).toContain('without --from');
    expect(plan.steps.find((s) => s.id === 'deployment-rollout/flow-api')?.changes[0]?.from).toBeNull();
  });

  it('refuses a downgrade offline unless allowed', () => {
    expect(() => computePlan(specFromPlans('helm-default.yaml'), { mode: 'offline', from: 'v0.38.0' })).toThrow('downgrade');
    expect(computePlan(specFromPlans('helm-default.yaml'), { mode: 'offline', from: 'v0.38.0' }, { allowDowngrade: true }).warnings.join()).toContain('--allow-downgrade');
  });

  it('leaves env to be copied at apply time and says from where', () => {
    const plan = computePlan(specFromPlans('helm-default.yaml'), { mode: 'offline', from: 'v0.36.7' });
    const start = jobStep(plan, 'maintenance-start');
    expect(start.envSource).toMatchObject({ component: 'flow-worker', workload: 'Deployment/flow-worker', container: 'flow-worker' });
  });
});

describe('live plans', () => {
  const spec = specFromPlans('helm-default.yaml');

  it('plans every component of an installation on the previous version, reading replicas from the cluster', () => {
    const plan = computePlan(spec, observed(helmInstallation('v0.36.7', 3)));
    expect(ids(plan)).toEqual(HELM_STEP_IDS);
    expect(plan.mode).toBe('live');
    expect(plan.summary.podRestarts).toBe(7);
    expect(plan.componentVersions).toEqual({ 'flow-api': 'v0.36.7', 'flow-worker': 'v0.36.7', 'flow-snapshot-worker': 'v0.36.7', 'peerdb-server': 'v0.36.7', 'peerdb-ui': 'v0.36.7' });
  });

  it('builds the maintenance Jobs as PeerDB needs them: flag not positional, target image, env copied by reference', () => {
    const plan = computePlan(spec, observed(helmInstallation('v0.36.7')));
    const start = jobStep(plan, 'maintenance-start').manifest;
    const end = jobStep(plan, 'maintenance-end').manifest;
    const container = start.spec.template.spec.containers[0]!;
    expect(container.image).toBe('ghcr.io/peerdb-io/flow-maintenance:stable-v0.37.4');
    expect(container.command).toBeUndefined();
    expect(container.args).toEqual(['--run-maintenance-flow', 'start']);
    expect(end.spec.template.spec.containers[0]!.args).toEqual(['--run-maintenance-flow', 'end']);
    expect(container.env).toContainEqual({ name: 'PEERDB_CATALOG_PASSWORD', valueFrom: { secretKeyRef: { name: 'peerdb-catalog', key: 'password' } } });
    expect(container.env).toContainEqual({ name: 'PEERDB_DEPLOYMENT_UID', value: 'uid-1234' });
    expect(container.envFrom).toEqual([{ configMapRef: { name: 'peerdb-config' } }]);
    expect(start.spec.template.spec.imagePullSecrets).toEqual([{ name: 'ghcr' }]);
    expect(start.spec).toMatchObject({ backoffLimit: 4, activeDeadlineSeconds: 7200 });
    expect(start.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'peerdb-upgrade', 'peerdb-upgrade.peerdb.io/step': 'maintenance-start' });
    // The plan label is added when the Job is created: in the plan it would make every Job step
    // change whenever anything else in the spec changes.
    expect(start.metadata.labels[LABEL_PLAN]).toBeUndefined();
    expect(start.metadata.name).toMatch(/^peerdb-maintenance-start-v0-37-4-[0-9a-f]{6}$/);
  });

  it('runs catalog migrations with the target peerdb-server image, MIGRATIONS_ONLY set and MIGRATIONS_DISABLED dropped', () => {
    const plan = computePlan(spec, observed(helmInstallation('v0.36.7')));
    const job = jobStep(plan, 'init-job/catalog-migrations').manifest;
    const container = job.spec.template.spec.containers[0]!;
    expect(container.image).toBe('ghcr.io/peerdb-io/peerdb-server:stable-v0.37.4');
    expect(container.env?.map((e) => e.name)).toEqual(['PEERDB_CATALOG_HOST', 'PEERDB_CATALOG_PASSWORD', 'PEERDB_MIGRATIONS_ONLY']);
    expect(container.env?.at(-1)).toEqual({ name: 'PEERDB_MIGRATIONS_ONLY', value: 'true' });
  });

  it('has no steps when every component already runs the target', () => {
    const plan = computePlan(spec, observed(helmInstallation('v0.37.4')));
    expect(plan.steps).toEqual([]);
    expect(plan.summary.steps).toBe(0);
  });

  it('leaves out what an interrupted upgrade already did', () => {
    const workloads = helmInstallation('v0.36.7', 3);
    for (const name of ['flow-api', 'flow-worker']) {
      const ref = `Deployment/${name}`;
      const w = workloads.get(ref)!;
      workloads.set(ref, { ...w, containers: [{ ...w.containers[0]!, image: image(name, 'v0.37.4') }] });
    }
    workloads.set(
      'StatefulSet/flow-snapshot-worker',
      statefulSet('flow-snapshot-worker', image('flow-snapshot-worker', 'v0.37.4'), 3, {
        partition: 1,
        updateRevision: 'rev-new',
        pods: [
          pod('flow-snapshot-worker-2', 2, 'rev-new'),
          pod('flow-snapshot-worker-1', 1, 'rev-new', { ready: false }),
          pod('flow-snapshot-worker-0', 0, 'rev-old'),
        ],
      }),
    );
    const plan = computePlan(spec, observed(workloads));
    expect(ids(plan)).toEqual([
      'preflight',
      'maintenance-start',
      'init-job/catalog-migrations',
      'statefulset-pod/flow-snapshot-worker/1',
      'statefulset-pod/flow-snapshot-worker/0',
      'deployment-rollout/peerdb-server',
      'deployment-rollout/peerdb-ui',
      'maintenance-end',
      'verify-mirrors',
      'complete',
    ]);
    const pod0 = plan.steps.find((s) => s.id === 'statefulset-pod/flow-snapshot-worker/0')!;
    expect(pod0.changes[0]).toEqual({ object: 'StatefulSet/flow-snapshot-worker', field: 'updateStrategy.rollingUpdate.partition', from: 1, to: 0 });
    expect(plan.from).toBe('v0.36.7');
  });

  it('waits for an unfinished Deployment rollout even when the image is already the target', () => {
    const workloads = helmInstallation('v0.37.4');
    workloads.set('Deployment/flow-api', deployment('flow-api', image('flow-api', 'v0.37.4'), { replicas: 2, updatedReplicas: 1 }));
    const plan = computePlan(spec, observed(workloads));
    const step = plan.steps.find((s) => s.id === 'deployment-rollout/flow-api')!;
    expect(step.changes).toEqual([]);
    expect(step.title).toContain('wait for the rollout');
  });

  it("upgrades the pods below the user's own partition too, sets the partition back at the end, and says so", () => {
    const s = specFromText(`  version: v0.37.4\n  components:\n    - { name: w, workload: StatefulSet/w }\n${skipDefaults()}`);
    const plan = computePlan(s, observed(new Map([['StatefulSet/w', statefulSet('w', image('w', 'v0.36.7'), 4, { partition: 2 })]])));
    expect(ids(plan)).toEqual(['preflight', 'statefulset-prepare/w', 'statefulset-pod/w/3', 'statefulset-pod/w/2', 'statefulset-pod/w/1', 'statefulset-pod/w/0', 'complete']);
    expect(plan.steps.at(-2)).toMatchObject({
      finalPartition: 2,
      changes: [{ field: 'updateStrategy.rollingUpdate.partition', from: 1, to: 0 }, { object: 'Pod/w-0' }, { field: 'updateStrategy.rollingUpdate.partition', from: 0, to: 2 }],
    });
    expect(plan.warnings.join('\n')).toMatch(/StatefulSet\/w has your updateStrategy.rollingUpdate.partition 2: every pod is upgraded/);
  });

  it("takes the partition a run that did not finish recorded as the user's, not the one it left", () => {
    const s = specFromText(`  version: v0.37.4\n  components:\n    - { name: w, workload: StatefulSet/w }\n${skipDefaults()}`);
    const left = statefulSet('w', image('w', 'v0.36.7'), 3, { partition: 2 });
    const plan = computePlan(s, { mode: 'live', observed: { workloads: new Map([['StatefulSet/w', left]]), userPartitions: new Map([['StatefulSet/w', 0]]) } });
    expect(ids(plan)).toEqual(['preflight', 'statefulset-prepare/w', 'statefulset-pod/w/2', 'statefulset-pod/w/1', 'statefulset-pod/w/0', 'complete']);
    expect(plan.steps.at(-2)).toMatchObject({ finalPartition: 0 });
    expect(plan.warnings.join('\n')).toMatch(/partition 2, left by an unfinished run; the partition it found, 0, is the one kept/);
  });

  it('plans the pods still below a partition when the image is already the target (not "already done")', () => {
    const s = specFromText(`  version: v0.37.4\n  components:\n    - { name: w, workload: StatefulSet/w }\n${skipDefaults()}`);
    const sts = statefulSet('w', image('w', 'v0.37.4'), 3, { partition: 1 });
    const stale = { ...sts, pods: sts.pods.map((p) => (p.ordinal === 0 ? { ...p, revision: 'old-revision' } : p)) };
    const plan = computePlan(s, observed(new Map([['StatefulSet/w', stale]])));
    expect(ids(plan)).toEqual(['preflight', 'statefulset-pod/w/0', 'complete']);
  });

  it('rolls an OnDelete StatefulSet pod by pod without partitions', () => {
    const s = specFromText(`  version: v0.37.4\n  components:\n    - { name: w, workload: StatefulSet/w }\n${skipDefaults()}`);
    const plan = computePlan(s, observed(new Map([['StatefulSet/w', statefulSet('w', image('w', 'v0.36.7'), 2, { strategy: 'OnDelete' })]])));
    expect(ids(plan)).toEqual(['preflight', 'statefulset-prepare/w', 'statefulset-pod/w/1', 'statefulset-pod/w/0', 'complete']);
    expect(plan.steps.flatMap((st) => st.changes).some((c) => c.field.includes('partition'))).toBe(false);
    expect(plan.steps[2]!.title).toContain('delete w-1');
  });

  it('names every missing workload and wrong container at once', () => {
    const workloads = helmInstallation('v0.36.7');
    workloads.set('Deployment/flow-api', undefined);
    workloads.set('StatefulSet/flow-snapshot-worker', undefined);
    workloads.set('Deployment/peerdb-ui', deployment('peerdb-ui', 'x', { containers: [{ name: 'a', image: 'x', env: [], envFrom: [] }, { name: 'b', image: 'y', env: [], envFrom: [] }] }));
    expect(() => computePlan(spec, observed(workloads))).toThrow(
      [
        'default component flow-api: Deployment peerdb/flow-api not found; if this installation has none, leave it out: `- { name: flow-api, skip: true }` under spec.components',
        'default component flow-snapshot-worker: StatefulSet peerdb/flow-snapshot-worker not found; if this installation has none, leave it out: `- { name: flow-snapshot-worker, skip: true }` under spec.components',
        'default component peerdb-ui: Deployment peerdb/peerdb-ui has no container "peerdb-ui" and several others (a, b); name one with container:',
      ].join('\n'),
    );
  });

  it('refuses to downgrade a component that runs a newer version', () => {
    const workloads = helmInstallation('v0.36.7');
    workloads.set('Deployment/peerdb-ui', deployment('peerdb-ui', image('peerdb-ui', 'v0.38.1')));
    expect(() => computePlan(spec, observed(workloads))).toThrow('peerdb-ui: v0.38.1 → v0.37.4 is a downgrade');
  });

  it('points at an unfinished run recorded in the checkpoint', () => {
    const plan = computePlan(spec, { mode: 'live', observed: { workloads: helmInstallation('v0.36.7'), unfinishedRun: { to: 'v0.37.4', stoppedAt: 'statefulset-pod/flow-snapshot-worker/1' } } });
    // As data: the CLI words it with the spec file (plan-words.test.ts).
    expect(plan.notices).toEqual([{ kind: 'unfinished-run', to: 'v0.37.4', checkpoint: 'peerdb/peerdb-peerdb-upgrade', stoppedAt: 'statefulset-pod/flow-snapshot-worker/1' }]);
  });

  it('says a downgrade once for all the components it concerns', () => {
    let message = '';
    try {
      computePlan(spec, observed(helmInstallation('v0.38.0')));
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'flow-api, flow-worker, flow-snapshot-worker, peerdb-server, peerdb-ui: v0.38.0 → v0.37.4 is a downgrade; PeerDB catalog migrations are forward-only; pass --allow-downgrade only if you restored the catalog to v0.37.4',
    ]);
  });

  it('is deterministic, and a changed init job changes only that Job', () => {
    const a = computePlan(spec, observed(helmInstallation('v0.36.7')));
    const b = computePlan(spec, observed(helmInstallation('v0.36.7')));
    expect(b).toEqual(a);
    const other = specFromText('  version: v0.37.4\n  maintenance: {}\n  initJobs:\n    - { name: catalog-migrations, preset: catalog-migrations, timeout: 45m }\n');
    const c = computePlan(other, observed(helmInstallation('v0.36.7')));
    expect(c.hash).not.toBe(a.hash);
    // Other cluster name (prod, not peerdb): compare the content hash that ends each Job name.
    const suffix = (plan: typeof a, id: string) => jobStep(plan, id).job.slice(-6);
    expect(suffix(c, 'maintenance-start')).toBe(suffix(a, 'maintenance-start'));
    expect(suffix(c, 'init-job/catalog-migrations')).not.toBe(suffix(a, 'init-job/catalog-migrations'));
    // What --resume compares: an untouched Job step keeps its identity in the same cluster.
    const fixed = specFromPlans('helm-default.yaml');
    const timeoutChanged = { ...fixed, initJobs: [{ ...fixed.initJobs[0]!, timeout: '45m' }] };
    const d = computePlan(timeoutChanged, observed(helmInstallation('v0.36.7')));
    const byId = (plan: typeof a, id: string) => plan.steps.find((s) => s.id === id)!;
    expect(stepHash(byId(d, 'maintenance-start'))).toBe(stepHash(byId(a, 'maintenance-start')));
    expect(stepHash(byId(d, 'maintenance-end'))).toBe(stepHash(byId(a, 'maintenance-end')));
    expect(stepHash(byId(d, 'init-job/catalog-migrations'))).not.toBe(stepHash(byId(a, 'init-job/catalog-migrations')));
  });
});

describe('concurrent rollouts in the plan (spec.rollout.concurrent)', () => {
  const groups = (plan: Plan) => plan.steps.map((s) => `${s.id}${'group' in s && s.group ? ` [${s.group}]` : ''}`);
  const withRollout = (rollout: string) => specFromText(`  version: v0.37.4\n  rollout:\n${rollout}`);

  it('"deployments" moves every Deployment up to where the first stands, the StatefulSet after them, each step in order', () => {
    const plan = computePlan(withRollout('    concurrent: deployments\n'), { mode: 'offline', from: 'v0.36.7' });
    expect(groups(plan)).toEqual([
      'preflight',
      'deployment-rollout/flow-api [deployments]',
      'deployment-rollout/flow-worker [deployments]',
      'deployment-rollout/peerdb-server [deployments]',
      'deployment-rollout/peerdb-ui [deployments]',
      'statefulset-prepare/flow-snapshot-worker',
      'statefulset-pod/flow-snapshot-worker/0',
      'complete',
    ]);
    // A different plan from the one-at-a-time one: resuming one with the other is refused.
    expect(plan.hash).not.toBe(computePlan(specFromText('  version: v0.37.4\n'), { mode: 'offline', from: 'v0.36.7' }).hash);
  });

  it('named groups keep a StatefulSet one pod at a time inside, and a group left with one planned member is no group', () => {
    const plan = computePlan(withRollout('    concurrent: [[flow-snapshot-worker, peerdb-ui], [flow-api, flow-worker]]\n'), { mode: 'offline', from: 'v0.36.7' });
    expect(groups(plan)).toEqual([
      'preflight',
      'deployment-rollout/flow-api [flow-api+flow-worker]',
      'deployment-rollout/flow-worker [flow-api+flow-worker]',
      'statefulset-prepare/flow-snapshot-worker [flow-snapshot-worker+peerdb-ui]',
      'statefulset-pod/flow-snapshot-worker/0 [flow-snapshot-worker+peerdb-ui]',
      'deployment-rollout/peerdb-ui [flow-snapshot-worker+peerdb-ui]',
      'deployment-rollout/peerdb-server',
      'complete',
    ]);
    const workloads = helmInstallation('v0.36.7');
    workloads.set('Deployment/flow-api', deployment('flow-api', image('flow-api', 'v0.37.4')));
    const alone = computePlan(withRollout('    concurrent: [[flow-api, flow-worker]]\n'), observed(workloads));
    expect(ids(alone)).not.toContain('deployment-rollout/flow-api');
    expect(alone.steps.some((s) => 'group' in s && s.group !== undefined)).toBe(false);
  });
});

describe('image pre-pull in the plan (spec.rollout.prePull)', () => {
  it('is a step between preflight and maintenance start naming every image the upgrade runs, once each', () => {
    const spec = specFromText('  version: v0.37.4\n  maintenance: {}\n  initJobs:\n    - { name: catalog-migrations, preset: catalog-migrations }\n  rollout:\n    prePull: {}\n');
    const plan = computePlan(spec, { mode: 'offline', from: 'v0.36.7' });
    expect(ids(plan).slice(0, 3)).toEqual(['preflight', 'pre-pull', 'maintenance-start']);
    const step = plan.steps[1]!;
    if (step.kind !== 'pre-pull') throw new Error('no pre-pull step');
    expect(step.images).toEqual(['flow-maintenance', 'peerdb-server', 'flow-api', 'flow-worker', 'flow-snapshot-worker', 'peerdb-ui'].map((n) => image(n, 'v0.37.4')));
    expect(step.timeoutMs).toBe(600_000);
    expect(computePlan(specFromText('  version: v0.37.4\n'), { mode: 'offline', from: 'v0.36.7' }).steps.some((s) => s.kind === 'pre-pull')).toBe(false);
  });
});
