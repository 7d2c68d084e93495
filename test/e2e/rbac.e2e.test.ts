/**
 * Scenario 6: RBAC. `peerdb-upgrade rbac` prints the Role an upgrade needs; a ServiceAccount bound
 * to exactly that Role upgrades the whole installation; without one of its permissions, preflight
 * refuses and nothing changes.
 */
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, transcript } from './cli.js';
import { expectedState, installationState, installPeerDB, podUids, readCheckpoint, readLease, upgradeJobs } from './fixture.js';
import { type ControlPlane, createNamespace, kubectl, request, serviceAccountKubeconfig, sharedControlPlane, waitFor } from './harness.js';
import { FROM, helmDefaultSpec, TO } from './specs.js';

let cp: ControlPlane;

beforeAll(async () => {
  cp = await sharedControlPlane();
});

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

interface Permission {
  group: string;
  resource: string;
  verb: string;
}

/** How preflight names a permission: `patch statefulsets.apps`, `get pods/log`. */
const permissionName = (p: Permission) => `${p.verb} ${p.resource}${p.group ? `.${p.group}` : ''}`;

async function printedRbac(namespace: string, serviceAccount: string): Promise<{ yaml: string; role: any; binding: any }> {
  const r = await runCli(['rbac', '--service-account', serviceAccount, '-n', namespace]);
  expect(r.code, transcript(r)).toBe(0);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJSON());
  return { yaml: r.stdout, role: docs.find((d) => d?.kind === 'Role'), binding: docs.find((d) => d?.kind === 'RoleBinding') };
}

function withoutPermission(rules: Rule[], p: Permission): Rule[] {
  return rules.flatMap((rule) => {
    if (!rule.apiGroups.includes(p.group) || !rule.resources.includes(p.resource)) return [rule];
    const others = rule.resources.filter((r) => r !== p.resource);
    const verbs = rule.verbs.filter((v) => v !== p.verb);
    return [...(others.length ? [{ ...rule, resources: others }] : []), ...(verbs.length ? [{ ...rule, resources: [p.resource], verbs }] : [])];
  });
}

/** Waits until the RBAC authorizer answers `allowed` for the ServiceAccount's token. */
async function waitForAccess(kubeconfig: string, token: string, namespace: string, p: Permission, allowed: boolean): Promise<void> {
  const [resource, subresource] = p.resource.split('/');
  await waitFor(
    async () => {
      const res = await request(kubeconfig, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        token,
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace, group: p.group, resource, subresource, verb: p.verb } } },
      });
      return res.body?.status?.allowed === allowed;
    },
    { description: `RBAC to answer allowed=${allowed} for ${permissionName(p)}` },
  );
}

/** Documented as optional (`rbac` says so), or needed only for OnDelete StatefulSets: preflight does not ask for them. */
// list on workloads is optional: without it a plan warns that it could not look for PeerDB
// workloads the spec leaves out (and init refuses), which is reported, not an upgrade failure.
const OPTIONAL = ['delete pods', 'get pods/log', 'list deployments.apps', 'list statefulsets.apps'];


describe('RBAC', () => {
  it('a ServiceAccount bound to exactly the printed Role runs a whole upgrade', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const { yaml, role, binding } = await printedRbac(ns, 'upgrader');
    expect(role.metadata.namespace).toBe(ns);
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'upgrader', namespace: ns }]);
    const applied = await kubectl(kubeconfig, ['apply', '-f', '-'], yaml);
    expect(applied.code, applied.stderr).toBe(0);
    const sa = await serviceAccountKubeconfig(kubeconfig, { namespace: ns, name: 'upgrader' });
    await waitForAccess(kubeconfig, sa.token, ns, { group: 'apps', resource: 'statefulsets', verb: 'patch' }, true);

    const spec = helmDefaultSpec(ns);
    const plan = await runCli(['plan', '-f', spec, '--detailed-exitcode'], { kubeconfig: sa.kubeconfig });
    expect(plan.code, transcript(plan)).toBe(2);
    const apply = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig: sa.kubeconfig });
    expect(apply.code, transcript(apply)).toBe(0);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
    expect((await upgradeJobs(kubeconfig, ns)).map((j) => j.step).sort()).toEqual(['init-catalog-migrations', 'maintenance-end', 'maintenance-start']);
    const status = await runCli(['status', '-f', spec], { kubeconfig: sa.kubeconfig });
    expect(status.code, transcript(status)).toBe(0);
    const after = await runCli(['plan', '-f', spec, '--detailed-exitcode'], { kubeconfig: sa.kubeconfig });
    expect(after.code, transcript(after)).toBe(0);
  });

  // The run keeps the namespace's Deployments and StatefulSets in one watch each; a Role without
  // list on them (optional) makes it watch just what each wait is about instead, and the run ends.
  it('without list on Deployments and StatefulSets (optional), a whole upgrade still runs and ends with every workload on the target', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const { role, binding } = await printedRbac(ns, 'upgrader');
    const lists = [
      { group: 'apps', resource: 'deployments', verb: 'list' },
      { group: 'apps', resource: 'statefulsets', verb: 'list' },
    ];
    const reduced = { ...role, rules: lists.reduce((rules, p) => withoutPermission(rules, p), role.rules as Rule[]) };
    const applied = await kubectl(kubeconfig, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [reduced, binding] }));
    expect(applied.code, applied.stderr).toBe(0);
    const sa = await serviceAccountKubeconfig(kubeconfig, { namespace: ns, name: 'upgrader' });
    await waitForAccess(kubeconfig, sa.token, ns, { group: 'apps', resource: 'statefulsets', verb: 'patch' }, true);
    for (const p of lists) await waitForAccess(kubeconfig, sa.token, ns, p, false);

    const spec = helmDefaultSpec(ns);
    const apply = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig: sa.kubeconfig });
    expect(apply.code, transcript(apply)).toBe(0);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
    expect(await readLease(kubeconfig, ns)).toBeUndefined();
  });

  it('without patch on statefulsets: preflight refuses (exit 1) and nothing changed', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const { role, binding } = await printedRbac(ns, 'upgrader');
    const missing = { group: 'apps', resource: 'statefulsets', verb: 'patch' };
    const reduced = { ...role, rules: withoutPermission(role.rules, missing) };
    const applied = await kubectl(kubeconfig, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [reduced, binding] }));
    expect(applied.code, applied.stderr).toBe(0);
    const sa = await serviceAccountKubeconfig(kubeconfig, { namespace: ns, name: 'upgrader' });
    await waitForAccess(kubeconfig, sa.token, ns, { group: 'apps', resource: 'deployments', verb: 'patch' }, true);
    await waitForAccess(kubeconfig, sa.token, ns, missing, false);
    const before = { state: await installationState(kubeconfig, inst), pods: await podUids(kubeconfig, ns) };

    const r = await runCli(['apply', '-f', helmDefaultSpec(ns), '--yes'], { kubeconfig: sa.kubeconfig });
    expect(r.code, transcript(r)).toBe(1);
    expect(r.stderr).toContain('preflight');
    expect(r.stderr).toContain('patch statefulsets.apps');
    expect(r.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
    // The way out, followed literally: the Role it prints is for this namespace and grants what was missing.
    const wayOut = /`peerdb-upgrade (rbac [^`]+)`/.exec(r.stderr)?.[1];
    expect(wayOut, transcript(r)).toBe(`rbac -n ${ns}`);
    const printed = await runCli(wayOut!.split(' '), { kubeconfig: sa.kubeconfig });
    expect(printed.code, transcript(printed)).toBe(0);
    const printedRole = parseAllDocuments(printed.stdout).map((d) => d.toJSON()).find((d) => d?.kind === 'Role');
    expect(printedRole.metadata.namespace).toBe(ns);
    expect(printedRole.rules.some((rule: Rule) => rule.apiGroups.includes('apps') && rule.resources.includes('statefulsets') && rule.verbs.includes('patch'))).toBe(true);

    expect(await installationState(kubeconfig, inst)).toEqual(before.state);
    expect(await podUids(kubeconfig, ns)).toEqual(before.pods);
    expect(await upgradeJobs(kubeconfig, ns)).toEqual([]);
    expect(await readCheckpoint(kubeconfig, ns)).toBeUndefined();
    expect(await readLease(kubeconfig, ns)).toBeUndefined();
  });

  let undetected: string[] | undefined;

  it('preflight notices each missing permission of the Role (server dry run as a ServiceAccount lacking just that one)', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const spec = helmDefaultSpec(ns);
    const { role } = await printedRbac(ns, 'upgrader');
    const permissions: Permission[] = (role.rules as Rule[]).flatMap((rule) => rule.resources.flatMap((resource) => rule.verbs.map((verb) => ({ group: rule.apiGroups[0]!, resource, verb }))));
    expect(permissions.length).toBeGreaterThan(10);
    const before = { state: await installationState(kubeconfig, inst), pods: await podUids(kubeconfig, ns) };

    // One Role and ServiceAccount per missing permission, all set up before any run.
    const accounts = await Promise.all(
      permissions.map(async (p, i) => {
        const name = `without-${i}`;
        const res = await request(kubeconfig, 'POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
          body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules: withoutPermission(role.rules, p) },
        });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        const sa = await serviceAccountKubeconfig(kubeconfig, { namespace: ns, name, role: name });
        return { p, sa };
      }),
    );
    for (const { p, sa } of accounts) {
      const granted = permissions.find((q) => permissionName(q) !== permissionName(p))!;
      await waitForAccess(kubeconfig, sa.token, ns, granted, true);
      await waitForAccess(kubeconfig, sa.token, ns, p, false);
    }

    const results: { name: string; detected: boolean; output: string }[] = [];
    const queue = [...accounts];
    await Promise.all(
      [1, 2, 3].map(async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const r = await runCli(['apply', '-f', spec, '--yes', '--dry-run=server'], { kubeconfig: next.sa.kubeconfig });
          const name = permissionName(next.p);
          // Either preflight lists it, or a read it needs for planning is refused first -- both
          // before anything changes, exit 1, pointing at `peerdb-upgrade rbac`.
          const [resource, sub] = next.p.resource.split('/');
          const forbidden = new RegExp(`cannot ${next.p.verb} resource "${resource}"${sub ? `/${sub}` : ''}`);
          const detected =
            r.code === 1 && ((/REFUSED preflight: missing permissions/.test(r.stdout) && r.stdout.includes(name)) || (forbidden.test(r.stderr) && r.stderr.includes('peerdb-upgrade rbac')));
          results.push({ name, detected, output: transcript(r) });
        }
      }),
    );
    undetected = results.filter((r) => !r.detected).map((r) => r.name).sort();
    for (const r of results) {
      if (OPTIONAL.includes(r.name)) continue;
      expect(r.detected, `preflight did not report missing "${r.name}":\n${r.output}`).toBe(true);
    }

    expect(await installationState(kubeconfig, inst)).toEqual(before.state);
    expect(await podUids(kubeconfig, ns)).toEqual(before.pods);
    expect(await upgradeJobs(kubeconfig, ns)).toEqual([]);
    expect(await readCheckpoint(kubeconfig, ns)).toBeUndefined();
    expect(await readLease(kubeconfig, ns)).toBeUndefined();
  });

  // Regression: the Role once granted list on Deployments/StatefulSets/Jobs and get on pods, which
  // nothing used and preflight did not check.
  it('every permission the printed Role grants is optional or checked by preflight (the Role is minimal)', () => {
    expect(undetected, 'the preflight sweep above did not finish, so there is nothing to check').toBeDefined();
    expect(undetected).toEqual([...OPTIONAL].sort());
  });
});
