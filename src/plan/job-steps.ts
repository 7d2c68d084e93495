import type { EnvVar } from '../cluster/types.js';
import { durationMs } from '../spec/duration.js';
import type { ClusterSpec, InitJobSpec } from '../spec/schema.js';
import { buildJob, mergeEnv } from './build-job.js';
import type { PlanNote } from './plan-types.js';
import { imageFor } from './image-ref.js';
import type { EnvSource, JobStep, JobStepKind } from './plan-types.js';
import type { ResolvedComponent } from './resolve-components.js';

const MIGRATIONS_ONLY = 'PEERDB_MIGRATIONS_ONLY';
const MIGRATIONS_DISABLED = 'PEERDB_MIGRATIONS_DISABLED';

/** Builds the Job steps of `version`; env is copied by reference from a component's container. */
export class JobSteps {
  constructor(
    private readonly spec: ClusterSpec,
    private readonly version: string,
    private readonly resolved: ReadonlyMap<string, ResolvedComponent>,
    private readonly warnings: PlanNote[],
  ) {}

  maintenance(mode: 'start' | 'end'): JobStep {
    const m = this.spec.maintenance;
    if (!m) throw new Error('maintenance Job planned for a spec without maintenance');
    const args = ['--run-maintenance-flow', mode];
    if (m.useMaintenanceTaskQueue) args.push('--use-maintenance-task-queue');
    if (m.skipOnNoMirrors) args.push('--skip-on-no-mirrors');
    if (m.flowGrpcAddress) args.push('--flow-grpc-address', m.flowGrpcAddress);
    const kind = mode === 'start' ? 'maintenance-start' : 'maintenance-end';
    return this.jobStep({
      id: kind,
      kind,
      title:
        mode === 'start'
          ? 'enter maintenance mode: wait for running snapshots, pause mirrors (Job)'
          : 'leave maintenance mode: resume the mirrors paused at the start (Job)',
      purpose: kind,
      containerName: 'maintenance',
      image: imageFor(this.spec.images, { name: 'flow-maintenance' }, this.version),
      // The image's entrypoint is `/home/peerdb/peer-flow maintenance`: give only its flags.
      args,
      source: m.envFrom,
      extraEnv: [],
      dropEnv: ['RUN_MAINTENANCE_FLOW'],
      backoffLimit: m.backoffLimit,
      timeoutMs: durationMs(m.timeout),
    });
  }

  init(job: InitJobSpec): JobStep {
    const common = { id: `init-job/${job.name}`, kind: 'init-job', purpose: `init-${job.name}`, containerName: job.name, backoffLimit: job.backoffLimit, timeoutMs: durationMs(job.timeout) } as const;
    if (job.preset === 'catalog-migrations') {
      const server = this.spec.components.find((c) => c.name === 'peerdb-server');
      const source = job.envFrom ?? 'peerdb-server';
      const disabled = this.resolved.get(source)?.container?.env.find((e) => e.name === MIGRATIONS_DISABLED);
      if (disabled?.value === 'true') {
        this.warnings.push(`${source} sets ${MIGRATIONS_DISABLED}=true; init job ${job.name} runs the catalog migrations anyway`);
      }
      return this.jobStep({
        ...common,
        title: `run catalog migrations with peerdb-server ${this.version} (Job)`,
        image: imageFor(this.spec.images, server ?? { name: 'peerdb-server' }, this.version),
        source,
        // peerdb-server refuses to start with both set.
        dropEnv: [MIGRATIONS_DISABLED],
        extraEnv: [...(job.env ?? []), { name: MIGRATIONS_ONLY, value: 'true' }],
      });
    }
    if (job.image === undefined) throw new Error(`init job ${job.name} has neither a preset nor an image`);
    return this.jobStep({
      ...common,
      title: `run init job ${job.name} (Job)`,
      image: job.image,
      command: job.command,
      args: job.args,
      source: job.envFrom,
      extraEnv: job.env ?? [],
      dropEnv: [],
    });
  }

  private jobStep(p: {
    id: string;
    kind: JobStepKind;
    title: string;
    purpose: string;
    containerName: string;
    image: string;
    command?: readonly string[] | undefined;
    args?: readonly string[] | undefined;
    source: string | undefined;
    extraEnv: readonly EnvVar[];
    dropEnv: readonly string[];
    backoffLimit: number;
    timeoutMs: number;
  }): JobStep {
    const source = p.source === undefined ? undefined : this.resolved.get(p.source);
    const env = source?.container ? mergeEnv(source.container.env, p.extraEnv, p.dropEnv) : [...p.extraEnv];
    const manifest = buildJob({
      cluster: this.spec.name,
      namespace: this.spec.namespace,
      purpose: p.purpose,
      targetVersion: this.version,
      containerName: p.containerName,
      image: p.image,
      command: p.command,
      args: p.args,
      env,
      envFrom: source?.container?.envFrom,
      imagePullSecrets: source?.state?.imagePullSecrets,
      serviceAccountName: source?.state?.serviceAccountName,
      backoffLimit: p.backoffLimit,
      timeoutMs: p.timeoutMs,
    });
    // Offline, the source's container could not be read: apply copies its env then.
    const envSource: EnvSource | undefined =
      p.source !== undefined && source !== undefined && source.container === undefined
        ? { component: p.source, workload: `${source.workloadKind}/${source.workloadName}`, container: source.containerName, extra: p.extraEnv }
        : undefined;
    return {
      id: p.id,
      kind: p.kind,
      title: p.title,
      job: manifest.metadata.name,
      image: p.image,
      changes: [{ object: `Job/${manifest.metadata.name}`, field: 'created', from: null, to: p.image }],
      manifest,
      ...(envSource ? { envSource } : {}),
      timeoutMs: p.timeoutMs,
    };
  }
}
