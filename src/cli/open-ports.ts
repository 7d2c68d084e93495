import type { ClusterPort } from '../cluster/port.js';

/**
 * Every cluster port a command opened (connect.ts adds them): main() closes them when the command
 * ends, however it ends. A module of its own with no dependencies, so main() can import it without
 * loading the Kubernetes client.
 */
export const opened = new Set<ClusterPort>();

/**
 * Closes every port opened so far: their long-lived watches stop, so a command that is done exits
 * at once instead of lingering while a watch reconnects.
 */
export function closeConnections(): void {
  for (const cluster of opened) cluster.close();
  opened.clear();
}
