import type { ContainerState, WorkloadState } from '../cluster/types.js';
import { parseImageRef } from './image-ref.js';
import { parseVersion, type Version } from '../spec/version.js';

/** The images a PeerDB installation's workloads run, by the last part of the repository. */
export const PEERDB_IMAGE_NAMES = ['flow-api', 'flow-worker', 'flow-snapshot-worker', 'peerdb-server', 'peerdb-ui'] as const;
export type PeerDBImageName = (typeof PEERDB_IMAGE_NAMES)[number];

/** One container of a workload that runs a PeerDB image, under any registry or mirror. */
export interface PeerDBContainer {
  readonly component: PeerDBImageName;
  readonly container: ContainerState;
  readonly repository: string;
  /** The repository without `/<component>`: the registry and path, e.g. ghcr.io/peerdb-io. */
  readonly registry: string;
  readonly tag: string | undefined;
  /** The tag split into a prefix and a release version, when it ends in one (stable-v0.36.7). */
  readonly tagPrefix: string | undefined;
  readonly version: Version | undefined;
}

const VERSION_AT_END = /^(.*?)(v?\d+\.\d+\.\d+(?:[a-z]|-patch\d+)?)$/;

export function peerdbContainers(workload: WorkloadState): PeerDBContainer[] {
  return workload.containers.flatMap((container) => {
    const ref = parseImageRef(container.image);
    const slash = ref.repository.lastIndexOf('/');
    const name = ref.repository.slice(slash + 1);
    if (!(PEERDB_IMAGE_NAMES as readonly string[]).includes(name)) return [];
    const match = ref.tag === undefined ? null : VERSION_AT_END.exec(ref.tag);
    const parsed = match ? parseVersion(match[2]!) : undefined;
    return [
      {
        component: name as PeerDBImageName,
        container,
        repository: ref.repository,
        registry: slash < 0 ? '' : ref.repository.slice(0, slash),
        tag: ref.tag,
        tagPrefix: parsed?.ok ? match![1] : undefined,
        version: parsed?.ok ? parsed.version : undefined,
      },
    ];
  });
}

/** How a running PeerDB image reads in a message: its version, else its tag. */
export function describeRunning(found: PeerDBContainer): string {
  return found.version?.tag ?? (found.tag ? `tag ${found.tag}` : 'no tag');
}
