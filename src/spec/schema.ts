import type { z } from 'zod';
// Named imports, not the `z` namespace: the bundle then carries only the parts of zod in use
// (about a fifth of it), which is most of the CLI's start-up time.
import { array, boolean, enum as zEnum, int, literal, strictObject, string } from 'zod';
import { parseVersion } from '../plan/version.js';
import { DURATION_HINT, DURATION_PATTERN, durationMs } from './duration.js';
import { HELM_DEFAULT_COMPONENTS } from './helm-defaults.js';

export const API_VERSION = 'peerdb-upgrade/v1alpha1';
export const KIND = 'PeerDBCluster';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsLabel = string()
  .max(63, { error: 'at most 63 characters' })
  .regex(DNS_LABEL, { error: 'a lowercase DNS label (a-z, 0-9 and -, starting and ending with a letter or digit)' });

const duration = string()
  .regex(DURATION_PATTERN, { error: DURATION_HINT })
  // A zero timeout would fail its step the moment it starts (after maintenance mode began).
  .refine((text) => !DURATION_PATTERN.test(text) || durationMs(text) > 0, { error: 'a duration longer than zero, such as 90s, 15m or 2h' });

const workloadRef = string()
  .regex(/^(Deployment|StatefulSet)\/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, {
    error: 'Deployment/<name> or StatefulSet/<name>',
  });

const version = string().superRefine((text, ctx) => {
  const parsed = parseVersion(text);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.reason });
});

/** An image repository without a tag: `registry/path/name`. */
const imageRepository = string()
  .regex(/^[a-z0-9]+([._\-/:][a-z0-9]+)*$/, { error: 'an image repository without a tag, e.g. ghcr.io/peerdb-io/flow-api' })
  .refine((text) => !/:[^/]*$/.test(text) || /^[^/]+:\d+\//.test(text), {
    error: 'an image repository without a tag; the tag comes from spec.version',
  });

const keyRef = strictObject({
  name: string().min(1),
  key: string().min(1),
  optional: boolean().optional(),
});

const envVar = strictObject({
  name: string().regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, { error: 'an environment variable name' }),
  value: string().optional(),
  valueFrom: strictObject({
      secretKeyRef: keyRef.optional(),
      configMapKeyRef: keyRef.optional(),
    })
    .optional(),
});

const component = strictObject({
  name: dnsLabel.describe('The component, e.g. flow-api; also the default image name.'),
  workload: workloadRef.describe('The workload to upgrade: Deployment/<name> or StatefulSet/<name>.'),
  container: string().min(1).optional().describe('The container to set the image of; default: the component name.'),
  image: imageRepository.optional().describe('Image repository; default: <spec.images.registry>/<name>.'),
  replicas: int().min(0).max(100_000).optional().describe('Replica count assumed by offline plans; default 1.'),
  readyTimeout: duration.default('10m').describe('How long one rollout or one pod may take to become Ready.'),
});

const initJob = strictObject({
    name: dnsLabel,
    preset: zEnum(['catalog-migrations']).optional().describe('catalog-migrations: peerdb-server image, PEERDB_MIGRATIONS_ONLY=true.'),
    image: string().min(1).optional().describe('Full image reference with tag (not for presets).'),
    command: array(string()).optional(),
    args: array(string()).optional(),
    env: array(envVar).optional(),
    envFrom: dnsLabel.optional().describe("Copy env and envFrom of this component's container (by reference)."),
    backoffLimit: int().min(0).max(100).default(1),
    timeout: duration.default('30m'),
  })
  .superRefine((job, ctx) => {
    if (job.preset === undefined && job.image === undefined) {
      ctx.addIssue({ code: 'custom', path: ['image'], message: 'an init job needs an image, or a preset such as catalog-migrations' });
    }
    if (job.preset !== undefined && job.image !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['image'], message: `a preset job (${job.preset}) takes its image from the preset; remove image` });
    }
  });

const maintenance = strictObject({
  envFrom: dnsLabel.default('flow-worker').describe("Copy env and envFrom of this component's container into the maintenance Jobs."),
  timeout: duration.default('2h').describe('Bound on each maintenance Job (start waits for running snapshots).'),
  backoffLimit: int().min(0).max(100).default(4),
  useMaintenanceTaskQueue: boolean().default(false).describe('Pass --use-maintenance-task-queue (needs a maintenance worker).'),
  skipOnNoMirrors: boolean().default(false).describe('Pass --skip-on-no-mirrors (needs flowGrpcAddress).'),
  flowGrpcAddress: string().min(1).optional().describe('flow-api gRPC address, e.g. flow-api:8112.'),
});

const images = strictObject({
  registry: string()
    .regex(/^[a-z0-9]+([._-][a-z0-9]+)*(:\d{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/, { error: 'an image registry and path, e.g. ghcr.io/peerdb-io or registry.example.com:5000/peerdb' })
    .default('ghcr.io/peerdb-io'),
  tagPrefix: string().default('stable-'),
});

const specBody = strictObject({
    version: version.describe('The target PeerDB version, e.g. v0.37.4.'),
    images: images.default({ registry: 'ghcr.io/peerdb-io', tagPrefix: 'stable-' }),
    maintenance: maintenance.optional().describe('Omit to upgrade without maintenance mode.'),
    initJobs: array(initJob).default([]),
    components: array(component).min(1).optional().describe("Omit for the PeerDB Helm chart's five components."),
    checkpoint: strictObject({ configMap: dnsLabel.optional(), lease: dnsLabel.optional() })
      .optional()
      .describe('Names of the checkpoint ConfigMap and lock Lease; default <metadata.name>-peerdb-upgrade.'),
  });

export const clusterSpecSchema = strictObject({
    apiVersion: literal(API_VERSION),
    kind: literal(KIND),
    metadata: strictObject({
      name: dnsLabel,
      namespace: dnsLabel.optional(),
    }),
    spec: specBody,
  })
  .superRefine((doc, ctx) => {
    const explicit = doc.spec.components !== undefined;
    const components = doc.spec.components ?? HELM_DEFAULT_COMPONENTS;
    const names = new Map<string, number>();
    const workloads = new Map<string, number>();
    components.forEach((c, i) => {
      const at = ['spec', 'components', i];
      const seen = names.get(c.name);
      if (seen !== undefined) ctx.addIssue({ code: 'custom', path: [...at, 'name'], message: `duplicate component name "${c.name}" (also spec.components[${seen}])` });
      else names.set(c.name, i);
      const seenWorkload = workloads.get(c.workload);
      if (seenWorkload !== undefined) ctx.addIssue({ code: 'custom', path: [...at, 'workload'], message: `${c.workload} is already named by spec.components[${seenWorkload}]` });
      else workloads.set(c.workload, i);
    });
    const componentList = [...names.keys()].join(', ');
    const where = explicit ? 'spec.components' : "the default components (the Helm chart's)";
    if (doc.spec.maintenance && !names.has(doc.spec.maintenance.envFrom)) {
      ctx.addIssue({ code: 'custom', path: ['spec', 'maintenance', 'envFrom'], message: `names component "${doc.spec.maintenance.envFrom}", which is not in ${where}: ${componentList}` });
    }
    const jobNames = new Map<string, number>();
    doc.spec.initJobs.forEach((job, i) => {
      const at = ['spec', 'initJobs', i];
      const seen = jobNames.get(job.name);
      if (seen !== undefined) ctx.addIssue({ code: 'custom', path: [...at, 'name'], message: `duplicate init job name "${job.name}" (also spec.initJobs[${seen}])` });
      else jobNames.set(job.name, i);
      if (job.envFrom !== undefined && !names.has(job.envFrom)) {
        ctx.addIssue({ code: 'custom', path: [...at, 'envFrom'], message: `names component "${job.envFrom}", which is not in ${where}: ${componentList}` });
      }
      if (job.preset === 'catalog-migrations' && job.envFrom === undefined && !names.has('peerdb-server')) {
        ctx.addIssue({ code: 'custom', path: [...at, 'envFrom'], message: 'the catalog-migrations preset copies the env of the peerdb-server component; name one with envFrom' });
      }
    });
    if (doc.spec.maintenance?.skipOnNoMirrors && !doc.spec.maintenance.flowGrpcAddress) {
      ctx.addIssue({ code: 'custom', path: ['spec', 'maintenance', 'flowGrpcAddress'], message: 'skipOnNoMirrors needs flowGrpcAddress (e.g. flow-api:8112)' });
    }
  });

export type ClusterSpecDocument = z.infer<typeof clusterSpecSchema>;
export type ComponentSpec = z.infer<typeof component>;
export type InitJobSpec = z.infer<typeof initJob>;
export type MaintenanceSpec = z.infer<typeof maintenance>;
export type EnvVarSpec = z.infer<typeof envVar>;

/** A spec after loading: components filled in, namespace decided. */
export interface ClusterSpec {
  readonly name: string;
  readonly namespace: string;
  readonly version: string;
  readonly images: { readonly registry: string; readonly tagPrefix: string };
  readonly maintenance: MaintenanceSpec | undefined;
  readonly initJobs: readonly InitJobSpec[];
  readonly components: readonly ComponentSpec[];
  readonly checkpointName: string;
  readonly leaseName: string;
}
