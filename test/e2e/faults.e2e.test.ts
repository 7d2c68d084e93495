/**
 * Fault injection: a full upgrade (plans/helm-default.yaml, 3 snapshot workers) through a loopback
 * proxy that injects, from a seed, 500/503 answers, 429 with Retry-After, connections dropped before
 * or after the API server acted, cut watches and added latency; and `kill -9` of the CLI at a seeded
 * moment. Each seeded run must end in the right final state after at most MAX_RESUMES `--resume`s,
 * with every Job created exactly once, no partition skipped (no pod updated before the pods above it
 * are Ready on the update revision) and a valid checkpoint. Prints a tally.
 *
 * Invariants are checked against an independent observer (watches straight on the API server, see
 * watch-recorder.ts) and the proxy's record of what reached the API server, in the API server's own
 * order (resourceVersions), not against the CLI's account of itself.
 *
 * PEERDB_FAULT_RUNS (default 20) and PEERDB_FAULT_SEED (default 1) change the runs; a failing seed
 * replays with PEERDB_FAULT_SEED=<seed> PEERDB_FAULT_RUNS=1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCheckpoint } from '../../src/apply/checkpoint.js';
import { startCli, transcript, type CliResult } from './cli.js';
import { FAULT_KINDS, startFaultProxy, type FaultKind, type FaultRates, type RequestRecord } from './fault-proxy.js';
import { expectedState, installationState, installPeerDB, readLease } from './fixture.js';
import { type ControlPlane, createNamespace, deleteNamespace, getJson, sharedControlPlane } from './harness.js';
import { FROM, helmDefaultSpec, TO } from './specs.js';
import { podView, startWatchRecorder, type WatchRecorder } from './watch-recorder.js';

const RUNS = Number(process.env.PEERDB_FAULT_RUNS ?? 20);
const FIRST_SEED = Number(process.env.PEERDB_FAULT_SEED ?? 1);
/** Runs at once, each in its own namespace with its own proxy: 20 one after the other take too long. */
const CONCURRENCY = 4;
/** Resumes allowed after the first attempt. A kill costs one; faults that outlast the retries, another. */
const MAX_RESUMES = 3;
const REPLICAS = 3;
const STS = 'flow-snapshot-worker';

/**
 * Per request (watchCut: per watch). About one request in eight fails in some way; the CLI retries
 * each request up to 6 times, so most faults are absorbed and some outlast the retries.
 */
const RATES: FaultRates = { status500: 0.03, status503: 0.03, status429: 0.015, dropBefore: 0.02, dropAfter: 0.02, latency: 0.05, watchCut: 0.3 };

let cp: ControlPlane;

beforeAll(async () => {
  cp = await sharedControlPlane();
});

/** mulberry32: a small seeded PRNG for the kill schedule. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface RunReport {
  seed: number;
  namespace: string;
  attempts: { code: number | null; signal: string | null; killedAfter?: string; ms: number; why?: string }[];
  resumes: number;
  kills: number;
  faults: Record<FaultKind, number>;
  requests: number;
  /** Faults that hit writes, by `fault verb resource`: the ones idempotency has to survive. */
  writeFaults: Record<string, number>;
  /** Delayed requests whose CLI was killed before they reached the API server (which still acted on them). */
  orphans: number;
  violations: string[];
}

/** Kill -9 after the k-th step-start/step-done event plus a jitter, or never. */
interface KillPlan {
  afterEvents: number;
  jitterMs: number;
}

function killPlans(seed: number): (KillPlan | undefined)[] {
  const random = prng(seed);
  const plan = (probability: number): KillPlan | undefined =>
    random() < probability ? { afterEvents: 1 + Math.floor(random() * 20), jitterMs: Math.floor(random() * 500) } : undefined;
  // First attempt: killed in three runs out of four; the first resume: in one out of four.
  return [plan(0.75), plan(0.25)];
}

async function oneRun(seed: number): Promise<RunReport> {
  const kubeconfig = cp.kubeconfig;
  const ns = await createNamespace(kubeconfig, `faults-${seed}-${Date.now().toString(36)}`);
  const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM, snapshotReplicas: REPLICAS });
  const pods = await startWatchRecorder(kubeconfig, `/api/v1/namespaces/${ns}/pods`);
  const jobs = await startWatchRecorder(kubeconfig, `/apis/batch/v1/namespaces/${ns}/jobs`);
  const proxy = await startFaultProxy({ kubeconfig, seed, faults: RATES, latencyMs: [50, 1500] });
  const report: RunReport = { seed, namespace: ns, attempts: [], resumes: 0, kills: 0, faults: proxy.tally, requests: 0, writeFaults: {}, orphans: 0, violations: [] };
  const transcripts: string[] = [];
  try {
    const spec = helmDefaultSpec(ns);
    const kills = killPlans(seed);
    for (let attempt = 0; attempt <= MAX_RESUMES; attempt++) {
      const args = ['apply', '-f', spec, '--yes', '-o', 'json', ...(attempt > 0 ? ['--resume'] : [])];
      const run = startCli(args, { kubeconfig: proxy.kubeconfig, timeoutMs: 240_000 });
      const kill = kills[attempt];
      let killedAfter: string | undefined;
      if (kill) {
        const isStep = (e: { type: string }) => e.type === 'step-start' || e.type === 'step-done';
        const reached = await run
          .waitForEvent((e) => isStep(e) && run.events.filter(isStep).length >= kill.afterEvents, 240_000)
          .then((e) => e, () => undefined);
        if (reached) {
          await new Promise((r) => setTimeout(r, kill.jitterMs));
          if (run.child.exitCode === null && run.child.signalCode === null) {
            killedAfter = `${reached.type} ${reached.step?.id} +${kill.jitterMs}ms`;
            run.child.kill('SIGKILL');
            report.kills++;
          }
        }
      }
      const result: CliResult = await run.done;
      transcripts.push(`---- attempt ${attempt}: ${args.join(' ')}\n${transcript(result)}`);
      // For a failed attempt that was not killed: the CLI's own last words.
      const why = result.code !== 0 && result.code !== null ? result.stderr.trim().split('\n').filter(Boolean).slice(-2).join(' / ').slice(0, 240) : undefined;
      report.attempts.push({ code: result.code, signal: result.signal, ms: result.durationMs, ...(killedAfter ? { killedAfter } : {}), ...(why ? { why } : {}) });
      if (result.code === 0) break;
      if (attempt === MAX_RESUMES) report.violations.push(`not finished after ${MAX_RESUMES} resumes (last exit ${result.code ?? result.signal})`);
      else report.resumes++;
    }
    await new Promise((r) => setTimeout(r, 300)); // the observers' last events
    report.requests = proxy.records.length;
    report.orphans = proxy.records.filter((r) => r.orphan).length;
    for (const r of proxy.records) {
      if (!r.fault || r.fault === 'latency' || r.fault === 'watchCut' || !['create', 'update', 'patch', 'delete'].includes(r.verb)) continue;
      const key = `${r.fault} ${r.verb} ${r.resource}`;
      report.writeFaults[key] = (report.writeFaults[key] ?? 0) + 1;
    }
    report.violations.push(...(await checkInvariants(ns, inst, pods, jobs, proxy.records)));
    if (report.violations.length > 0) {
      process.stderr.write(`\nseed ${seed} (${ns}) violations:\n  ${report.violations.join('\n  ')}\n${transcripts.join('\n')}\n`);
    }
    return report;
  } finally {
    pods.stop();
    jobs.stop();
    await proxy.close();
    if (report.violations.length === 0) await deleteNamespace(kubeconfig, ns);
  }
}

async function checkInvariants(ns: string, inst: Awaited<ReturnType<typeof installPeerDB>>, pods: WatchRecorder, jobs: WatchRecorder, records: RequestRecord[]): Promise<string[]> {
  const violations: string[] = [];
  const kubeconfig = cp.kubeconfig;

  // 1. The right final state.
  const state = await installationState(kubeconfig, inst);
  const expected = expectedState(TO, inst, REPLICAS);
  if (JSON.stringify(state) !== JSON.stringify(expected)) violations.push(`final state: ${JSON.stringify(state)}`);

  // 2. A valid, finished checkpoint; the lock released.
  const cm = await getJson(kubeconfig, `/api/v1/namespaces/${ns}/configmaps/peerdb-peerdb-upgrade`);
  try {
    const text: string = cm?.data?.['checkpoint.json'];
    const checkpoint = parseCheckpoint(text, 'checkpoint');
    if (checkpoint.run.state !== 'done') violations.push(`checkpoint run state ${checkpoint.run.state}`);
    const open = checkpoint.steps.filter((s) => s.s !== 'done').map((s) => `${s.id}=${s.s}`);
    if (open.length) violations.push(`checkpoint steps not done: ${open.join(', ')}`);
    if (Buffer.byteLength(text) > 1024 * 1024) violations.push('checkpoint over 1 MiB');
  } catch (error) {
    violations.push(`checkpoint invalid: ${(error as Error).message}`);
  }
  if (await readLease(kubeconfig, ns)) violations.push('the Lease was not released');

  // 3. Every Job created exactly once (as the API server saw it) and none deleted.
  const added = new Map<string, number>();
  for (const e of jobs.events) if (e.type === 'ADDED') added.set(e.object.metadata.name, (added.get(e.object.metadata.name) ?? 0) + 1);
  const createdUpstream = new Map<string, number>();
  for (const r of records) {
    if (r.verb === 'create' && r.resource === 'jobs' && r.upstreamStatus === 201) {
      const name = r.result?.metadata?.name ?? r.body?.metadata?.name;
      createdUpstream.set(name, (createdUpstream.get(name) ?? 0) + 1);
    }
  }
  if (added.size !== 3) violations.push(`expected 3 Jobs, the API server saw ${[...added.keys()].join(', ')}`);
  for (const [name, n] of added) if (n !== 1) violations.push(`Job ${name} created ${n} times`);
  for (const [name, n] of createdUpstream) if (n !== 1) violations.push(`Job ${name}: ${n} successful creates`);
  const jobDeletes = records.filter((r) => r.verb === 'delete' && r.resource === 'jobs' && r.upstreamStatus !== undefined && r.upstreamStatus < 300);
  if (jobDeletes.length) violations.push(`Jobs deleted: ${jobDeletes.map((r) => r.name).join(', ')}`);

  // 4a. No pod updated before the pods above it are Ready on the new image, in the API server's order.
  const target = `ghcr.io/peerdb-io/${STS}:stable-${TO}`;
  const view = new Map<number, ReturnType<typeof podView>>();
  const readyNewAt = new Map<number, number>(); // ordinal → rv of its first Ready-on-target event
  for (const e of [...pods.events].sort((a, b) => a.rv - b.rv)) {
    const v = podView(e.object, STS);
    if (!v.name.startsWith(`${STS}-`) || v.ordinal === undefined) continue;
    if (e.type === 'ADDED' && v.image === target) {
      for (let j = v.ordinal + 1; j < REPLICAS; j++) {
        const above = view.get(j);
        if (!above || above.image !== target || !above.ready || above.deleting) {
          violations.push(`${v.name} created on the new image at rv ${e.rv} while ${STS}-${j} was ${above ? `${above.image === target ? 'new' : 'old'}, ready=${above.ready}` : 'missing'}`);
        }
      }
    }
    if (e.type === 'DELETED') view.delete(v.ordinal);
    else view.set(v.ordinal, v);
    if (v.image === target && v.ready && !v.deleting && !readyNewAt.has(v.ordinal)) readyNewAt.set(v.ordinal, e.rv);
  }

  // 4b. Partition patches: replicas (prepare), then never up again, and lowered to k only after
  //     every pod above k was Ready on the new image (rv of that event < rv of the patch's result).
  const patches = records
    .filter((r) => r.verb === 'patch' && r.resource === 'statefulsets' && r.name === STS && r.upstreamStatus !== undefined && r.upstreamStatus < 300)
    .map((r) => ({ partition: r.body?.spec?.updateStrategy?.rollingUpdate?.partition as number | undefined, rv: Number(r.resultResourceVersion), orphan: r.orphan === true }))
    .filter((p) => typeof p.partition === 'number')
    .sort((a, b) => a.rv - b.rv);
  let lowest = Infinity;
  for (const p of patches) {
    const k = p.partition!;
    // A killed run's delayed write landing late is the network's doing, not a decision of the CLI.
    if (k > lowest && !p.orphan) violations.push(`partition raised from ${lowest} to ${k} at rv ${p.rv}`);
    lowest = Math.min(lowest, k);
    if (k >= REPLICAS) continue;
    for (let j = k + 1; j < REPLICAS; j++) {
      const ready = readyNewAt.get(j);
      if (ready === undefined || !(ready < p.rv)) violations.push(`partition lowered to ${k} at rv ${p.rv} before ${STS}-${j} was Ready on the new image (rv ${ready ?? 'never'})`);
    }
  }
  // Every partition from replicas down to 0 was set (by the run, or by a killed run's late write).
  const values = [...new Set(patches.map((p) => p.partition!))].sort((a, b) => b - a);
  if (JSON.stringify(values) !== JSON.stringify([3, 2, 1, 0])) violations.push(`partitions set: ${JSON.stringify(patches.map((p) => `${p.partition}${p.orphan ? ' (late)' : ''}`))}`);
  return violations;
}

const reports: RunReport[] = [];

afterAll(() => {
  if (reports.length === 0) return;
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, reports.reduce((s, r) => s + r.faults[k], 0)]));
  const resumeHistogram = new Map<number, number>();
  for (const r of reports) resumeHistogram.set(r.resumes, (resumeHistogram.get(r.resumes) ?? 0) + 1);
  const exits = new Map<string, number>();
  for (const r of reports) for (const a of r.attempts) exits.set(String(a.code ?? a.signal), (exits.get(String(a.code ?? a.signal)) ?? 0) + 1);
  const writeFaults = new Map<string, number>();
  for (const r of reports) for (const [k, n] of Object.entries(r.writeFaults)) writeFaults.set(k, (writeFaults.get(k) ?? 0) + n);
  const lines = [
    '',
    `fault injection tally: ${reports.length} seeded runs (seeds ${FIRST_SEED}…${FIRST_SEED + RUNS - 1})`,
    `  requests through the proxy: ${reports.reduce((s, r) => s + r.requests, 0)}`,
    `  faults injected: ${Object.values(faults).reduce((s, n) => s + n, 0)} — ${Object.entries(faults).map(([k, n]) => `${k} ${n}`).join(', ')}`,
    `  of which on writes: ${[...writeFaults].sort((a, b) => a[0].localeCompare(b[0])).map(([k, n]) => `${k} ${n}`).join(', ')}`,
    `  kill -9: ${reports.reduce((s, r) => s + r.kills, 0)}; requests of killed runs that reached the API server late: ${reports.reduce((s, r) => s + r.orphans, 0)}`,
    `  resumes needed: ${reports.reduce((s, r) => s + r.resumes, 0)} in all; runs by resumes: ${[...resumeHistogram].sort((a, b) => a[0] - b[0]).map(([n, c]) => `${n}: ${c}`).join(', ')}`,
    `  exits: ${[...exits].map(([k, n]) => `${k} ×${n}`).join(', ')}`,
    `  invariant violations: ${reports.reduce((s, r) => s + r.violations.length, 0)}`,
    ...reports.map(
      (r) =>
        `    seed ${String(r.seed).padStart(3)}: ${r.attempts.map((a) => `${a.code ?? a.signal}${a.killedAfter ? ` (killed after ${a.killedAfter})` : ''}${a.why ? ` [${a.why}]` : ''}`).join(' → ')}; ${Object.values(r.faults).reduce((s, n) => s + n, 0)} faults${r.violations.length ? `; VIOLATIONS: ${r.violations.join('; ')}` : ''}`,
    ),
  ];
  console.log(lines.join('\n'));
});

describe('fault injection', () => {
  it(
    `${RUNS} seeded upgrades through injected API faults and kill -9 end right after at most ${MAX_RESUMES} resumes, losing nothing`,
    async () => {
      const seeds = Array.from({ length: RUNS }, (_, i) => FIRST_SEED + i);
      const queue = [...seeds];
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) reports.push(await oneRun(seed));
        }),
      );
      reports.sort((a, b) => a.seed - b.seed);
      const violations = reports.flatMap((r) => r.violations.map((v) => `seed ${r.seed}: ${v}`));
      expect(violations).toEqual([]);
      // The faults did happen: a run of this test that injected nothing would prove nothing.
      for (const kind of FAULT_KINDS) expect(reports.reduce((s, r) => s + r.faults[kind], 0), kind).toBeGreaterThan(0);
    },
    20 * 60_000,
  );
});
