import type { ContainerState, WorkloadKind, WorkloadState } from '../cluster/types.js';
import type { ClusterSpec, Component } from '../spec/schema.js';
import { imageFor, parseImageRef, repositoryFor } from './image-ref.js';
import type { ObservedState } from './plan-input.js';
import { versionFromTag, type Version } from '../spec/version.js';

/** A component as the planner sees it: where it runs, what it runs now, what it will run. */
export interface ResolvedComponent {
  readonly workloadKind: WorkloadKind;
  readonly workloadName: string;
  readonly containerName: string;
  readonly currentImage: string | undefined;
  readonly currentRepository: string | undefined;
  readonly currentTag: string | undefined;
  readonly version: Version | undefined;
  readonly targetImage: string;
  /** Observed state; undefined in an offline plan. */
  readonly state: WorkloadState | undefined;
  readonly container: ContainerState | undefined;
  /** Replicas: observed, or the spec's assumption offline. */
  readonly replicas: number;
}

/** Offline: every component is assumed to run `from` (unknown without --from) with the spec's replicas. */
export function resolveOffline(spec: ClusterSpec, component: Component, to: Version, from: Version | undefined): ResolvedComponent {
  return {
    workloadKind: component.ref.kind,
    workloadName: component.ref.name,
    containerName: component.container ?? component.name,
    currentImage: from ? imageFor(spec.images, component, from.tag) : undefined,
    currentRepository: repositoryFor(spec.images, component),
    currentTag: from ? `${spec.images.tagPrefix}${from.tag}` : undefined,
    version: from,
    targetImage: imageFor(spec.images, component, to.tag),
    state: undefined,
    container: undefined,
    replicas: component.replicas ?? 1,
  };
}

/** Live: the component's workload and container as observed; pushes to `problems` what is missing. */
export function resolveLive(spec: ClusterSpec, component: Component, to: string, observed: ObservedState, problems: string[]): ResolvedComponent | undefined {
  const { kind, name } = component.ref;
  const where = component.entry !== undefined ? `spec.components[${component.entry}] (${component.name})` : `default component ${component.name}`;
  const state = observed.workloads.get(component.workload);
  if (!state) {
    const leaveOut = component.entry === undefined ? `; if this installation has none, leave it out: \`- { name: ${component.name}, skip: true }\` under spec.components` : '';
    problems.push(`${where}: ${kind} ${spec.namespace}/${name} not found${leaveOut}`);
    return undefined;
  }
  const container = pickContainer(state, component, where, problems);
  if (!container) return undefined;
  const image = parseImageRef(container.image);
  return {
    workloadKind: kind,
    workloadName: name,
    containerName: container.name,
    currentImage: container.image,
    currentRepository: image.repository,
    currentTag: image.tag,
    version: image.tag ? versionFromTag(image.tag, spec.images.tagPrefix) : undefined,
    targetImage: imageFor(spec.images, component, to),
    state,
    container,
    replicas: state.replicas,
  };
}

function pickContainer(state: WorkloadState, component: Component, where: string, problems: string[]): ContainerState | undefined {
  const names = state.containers.map((c) => c.name).join(', ');
  if (component.container !== undefined) {
    const found = state.containers.find((c) => c.name === component.container);
    if (!found) problems.push(`${where}: ${state.kind} ${state.namespace}/${state.name} has no container "${component.container}" (it has: ${names})`);
    return found;
  }
  const byName = state.containers.find((c) => c.name === component.name);
  if (byName) return byName;
  if (state.containers.length === 1) return state.containers[0];
  problems.push(`${where}: ${state.kind} ${state.namespace}/${state.name} has no container "${component.name}" and several others (${names}); name one with container:`);
  return undefined;
}
