// zod/mini, not zod's classic API: the same core, checks, issues and JSON Schema, but a mini schema
// is a lighter object, and this module builds dozens of them at every start. Measured with esbuild's
// bundle of this module alone, CPU to load and run it with V8's code cache (as bin/ runs the CLI):
// 9.7 ms classic, 3.8 ms mini; `plan --offline` as a whole 113.8 -> 107.8 ms CPU.
import type { z } from 'zod/mini';
import {
  _default,
  array,
  boolean,
  clone,
  enum as zEnum,
  globalRegistry,
  int,
  literal,
  maximum,
  maxLength,
  minimum,
  minLength,
  optional,
  refine,
  regex,
  strictObject,
  string,
  superRefine,
  union,
} from 'zod/mini';
import './zod-english.js';
import { parseVersion } from './version.js';
import { DURATION_HINT, DURATION_PATTERN, durationMs } from './duration.js';
import { mergeComponents } from './merge-components.js';

export const API_VERSION = 'peerdb-upgrade/v1alpha1';
export const KIND = 'PeerDBCluster';

/** Gives `schema` a description (the JSON Schema's); `schema` must be used nowhere else (see `own`). */
function described<T extends z.ZodMiniType>(schema: T, description: string): T {
  globalRegistry.add(schema, { description });
  return schema;
}

/** A copy of a shared schema, to describe one use of it only (what classic's .describe() does). */
const own = <T extends z.ZodMiniType>(schema: T): T => clone(schema);

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsLabel = string().check(
  maxLength(63, { error: 'at most 63 characters' }),
  regex(DNS_LABEL, { error: 'a lowercase DNS label (a-z, 0-9 and -, starting and ending with a letter or digit)' }),
);

const duration = string().check(
  regex(DURATION_PATTERN, { error: DURATION_HINT }),
  // A zero timeout would fail its step the moment it starts (after maintenance mode began).
  refine((text: string) => !DURATION_PATTERN.test(text) || durationMs(text) > 0, { error: 'a duration longer than zero, such as 90s, 15m or 2h' }),
);

const workloadRef = string().check(
  regex(/^(Deployment|StatefulSet)\/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, {
    error: 'Deployment/<name> or StatefulSet/<name>',
  }),
);

const version = string().check(
  superRefine((text: string, ctx) => {
    const parsed = parseVersion(text);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.reason });
  }),
);

/** An image repository without a tag: `registry/path/name`. */
const imageRepository = string().check(
  regex(/^[a-z0-9]+([._\-/:][a-z0-9]+)*$/, { error: 'an image repository without a tag, e.g. ghcr.io/peerdb-io/flow-api' }),
  refine((text: string) => !/:[^/]*$/.test(text) || /^[^/]+:\d+\//.test(text), {
    error: 'an image repository without a tag; the tag comes from spec.version',
  }),
);

const nonEmpty = () => string().check(minLength(1));
const intBetween = (min: number, max: number) => int().check(minimum(min), maximum(max));

const keyRef = strictObject({
  name: nonEmpty(),
  key: nonEmpty(),
  optional: optional(boolean()),
});

const envVar = strictObject({
  name: string().check(regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, { error: 'an environment variable name' })),
  value: optional(string()),
  valueFrom: optional(
    strictObject({
      secretKeyRef: optional(keyRef),
      configMapKeyRef: optional(keyRef),
    }),
  ),
});

const component = strictObject({
  name: described(own(dnsLabel), 'The component, e.g. flow-api; also the default image name. An entry naming a default component changes only the fields it sets.'),
  workload: described(optional(workloadRef), 'The workload to upgrade: Deployment/<name> or StatefulSet/<name>. Required for a component that is not a default.'),
  container: described(optional(nonEmpty()), 'The container to set the image of; default: the component name.'),
  image: described(optional(imageRepository), 'Image repository; default: <spec.images.registry>/<name>.'),
  replicas: described(optional(intBetween(0, 100_000)), 'Replica count assumed by offline plans; default 1.'),
  readyTimeout: described(optional(duration), 'How long one rollout or one pod may take to become Ready; default 10m (15m for flow-snapshot-worker).'),
  skip: described(optional(boolean()), 'true: leave this default component out (the installation has none, or it is upgraded otherwise).'),
  before: described(optional(dnsLabel), 'Roll this component just before the named one (default: a default keeps its place, a new component goes last).'),
  after: described(optional(dnsLabel), 'Roll this component just after the named one.'),
});

const initJob = strictObject({
  name: dnsLabel,
  preset: described(optional(zEnum(['catalog-migrations'])), 'catalog-migrations: peerdb-server image, PEERDB_MIGRATIONS_ONLY=true.'),
  image: described(optional(nonEmpty()), 'Full image reference with tag (not for presets).'),
  command: optional(array(string())),
  args: optional(array(string())),
  env: optional(array(envVar)),
  envFrom: described(optional(dnsLabel), "Copy env and envFrom of this component's container (by reference)."),
  backoffLimit: _default(intBetween(0, 100), 1),
  timeout: _default(duration, '30m'),
}).check(
  superRefine((job, ctx) => {
    if (job.preset === undefined && job.image === undefined) {
      ctx.addIssue({ code: 'custom', path: ['image'], message: 'an init job needs an image, or a preset such as catalog-migrations' });
    }
    if (job.preset !== undefined && job.image !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['image'], message: `a preset job (${job.preset}) takes its image from the preset; remove image` });
    }
  }),
);

const maintenance = strictObject({
  envFrom: described(_default(dnsLabel, 'flow-worker'), "Copy env and envFrom of this component's container into the maintenance Jobs."),
  timeout: described(_default(duration, '2h'), 'Bound on each maintenance Job (start waits for running snapshots).'),
  backoffLimit: _default(intBetween(0, 100), 4),
  useMaintenanceTaskQueue: described(_default(boolean(), false), 'Pass --use-maintenance-task-queue (needs a maintenance worker).'),
  skipOnNoMirrors: described(_default(boolean(), false), 'Pass --skip-on-no-mirrors (needs flowGrpcAddress).'),
  flowGrpcAddress: described(optional(nonEmpty()), 'flow-api gRPC address, e.g. flow-api:8112.'),
});

const flowApi = strictObject({
  component: described(_default(dnsLabel, 'flow-api'), "The component whose pods serve flow-api's HTTP gateway."),
  port: described(_default(intBetween(1, 65535), 8113), "flow-api's HTTP gateway port in the pod."),
  reachability: described(
    _default(zEnum(['required', 'best-effort']), 'required'),
    'required: preflight refuses when flow-api cannot be asked (nothing changed); best-effort: warn and rely on the Jobs alone.',
  ),
  verifyTimeout: described(_default(duration, '5m'), 'How long verify-mirrors waits, after maintenance end, for every paused mirror to run again.'),
});

const images = strictObject({
  registry: _default(
    string().check(
      regex(/^[a-z0-9]+([._-][a-z0-9]+)*(:\d{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/, { error: 'an image registry and path, e.g. ghcr.io/peerdb-io or registry.example.com:5000/peerdb' }),
    ),
    'ghcr.io/peerdb-io',
  ),
  tagPrefix: _default(string(), 'stable-'),
});

const rollout = strictObject({
  concurrent: described(
    optional(union([literal('deployments'), array(array(dnsLabel).check(minLength(2, { error: 'a group names at least two components' }))).check(minLength(1))])),
    'Roll components side by side instead of one at a time: "deployments" (every Deployment at once) or groups of component names ([[flow-api, peerdb-ui], …]); a StatefulSet keeps one pod at a time inside its group. Omit: one component at a time.',
  ),
  prePull: described(
    optional(
      strictObject({
        timeout: described(_default(duration, '10m'), 'Bound on the whole pre-pull; past it the upgrade goes on without what is not pulled.'),
      }),
    ),
    'Pull the images of the upgrade onto the nodes running the installation before maintenance starts, while mirrors still run (best effort; `prePull: {}` for the defaults). Omit: no pre-pull.',
  ),
});

const specBody = strictObject({
  version: described(version, 'The target PeerDB version, e.g. v0.37.4.'),
  images: _default(images, { registry: 'ghcr.io/peerdb-io', tagPrefix: 'stable-' }),
  maintenance: described(optional(maintenance), 'Omit to upgrade without maintenance mode.'),
  flowApi: described(
    _default(flowApi, { component: 'flow-api', port: 8113, reachability: 'required', verifyTimeout: '5m' }),
    "How PeerDB's own state is read (through pods/portforward to flow-api).",
  ),
  initJobs: _default(array(initJob), []),
  components: described(
    optional(array(component).check(minLength(1))),
    "Merged by name onto the PeerDB Helm chart's five components (flow-api, flow-worker, flow-snapshot-worker, peerdb-server, peerdb-ui): list only what differs.",
  ),
  rollout: described(optional(rollout), 'How the components are rolled: one at a time (default) or side by side, and whether their images are pulled beforehand.'),
  checkpoint: described(
    optional(strictObject({ configMap: optional(dnsLabel), lease: optional(dnsLabel) })),
    'Names of the checkpoint ConfigMap and lock Lease; default <metadata.name>-peerdb-upgrade.',
  ),
});

export const clusterSpecSchema = strictObject({
  apiVersion: literal(API_VERSION),
  kind: literal(KIND),
  metadata: strictObject({
    name: dnsLabel,
    namespace: optional(dnsLabel),
  }),
  spec: specBody,
}).check(
  superRefine((doc, ctx) => {
    const merged = mergeComponents(doc.spec.components);
    for (const problem of merged.problems) ctx.addIssue({ code: 'custom', path: [...problem.path], message: problem.message });
    const components = merged.components;
    const names = new Set(components.map((c) => c.name));
    const workloads = new Map<string, string>();
    for (const c of components) {
      const other = workloads.get(c.workload);
      const path = c.entry !== undefined ? ['spec', 'components', c.entry, 'workload'] : ['spec', 'components'];
      if (other !== undefined) ctx.addIssue({ code: 'custom', path, message: `${c.workload} is already named by component ${other}` });
      else workloads.set(c.workload, c.name);
    }
    const componentList = components.map((c) => c.name).join(', ');
    const where = 'the components';
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
    const groups = doc.spec.rollout?.concurrent;
    if (Array.isArray(groups)) {
      const inGroup = new Map<string, number>();
      groups.forEach((group, g) => {
        group.forEach((name, i) => {
          const at = ['spec', 'rollout', 'concurrent', g, i];
          if (!names.has(name)) ctx.addIssue({ code: 'custom', path: at, message: `names component "${name}", which is not in ${where}: ${componentList}` });
          const other = inGroup.get(name);
          if (other !== undefined) ctx.addIssue({ code: 'custom', path: at, message: `component "${name}" is already in group ${other} (spec.rollout.concurrent[${other}])` });
          else inGroup.set(name, g);
        });
      });
    }
    if (doc.spec.maintenance?.skipOnNoMirrors && !doc.spec.maintenance.flowGrpcAddress) {
      ctx.addIssue({ code: 'custom', path: ['spec', 'maintenance', 'flowGrpcAddress'], message: 'skipOnNoMirrors needs flowGrpcAddress (e.g. flow-api:8112)' });
    }
  }),
);

export type ClusterSpecDocument = z.infer<typeof clusterSpecSchema>;
/** One spec.components entry as written. */
export type ComponentEntry = z.infer<typeof component>;

/** A component after merging the entries onto the defaults (see merge-components.ts). */
export interface ComponentSpec {
  readonly name: string;
  readonly workload: string;
  readonly container?: string | undefined;
  readonly image?: string | undefined;
  readonly replicas?: number | undefined;
  readonly readyTimeout: string;
  /** Index of the spec.components entry that names it; undefined for a default the spec leaves alone. */
  readonly entry?: number | undefined;
}
export type InitJobSpec = z.infer<typeof initJob>;
export type MaintenanceSpec = z.infer<typeof maintenance>;
export type FlowApiSpec = z.infer<typeof flowApi>;
export type RolloutSpec = z.infer<typeof rollout>;
export type EnvVarSpec = z.infer<typeof envVar>;

/** `Deployment/<name>` or `StatefulSet/<name>`, parsed once when the spec is resolved. */
export interface WorkloadRefSpec {
  readonly kind: 'Deployment' | 'StatefulSet';
  readonly name: string;
}

/** A component of a resolved spec: its workload reference parsed. */
export type Component = ComponentSpec & { readonly ref: WorkloadRefSpec };

/** A spec after loading: components filled in, namespace decided. */
export interface ClusterSpec {
  readonly name: string;
  readonly namespace: string;
  readonly version: string;
  readonly images: { readonly registry: string; readonly tagPrefix: string };
  readonly maintenance: MaintenanceSpec | undefined;
  readonly flowApi: FlowApiSpec;
  readonly initJobs: readonly InitJobSpec[];
  readonly components: readonly Component[];
  /** spec.rollout; {} when omitted (one component at a time, no pre-pull). */
  readonly rollout: RolloutSpec;
  readonly checkpointName: string;
  readonly leaseName: string;
}
