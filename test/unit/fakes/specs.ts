import { readFileSync } from 'node:fs';
import { parseSpecText, resolveSpec } from '../../../src/spec/load-spec.js';
import type { ClusterSpec } from '../../../src/spec/schema.js';

export function specFromPlans(file: string, namespaceFlag?: string): ClusterSpec {
  return resolveSpec(parseSpecText(file, readFileSync(`plans/${file}`, 'utf8')).document, { namespaceFlag });
}

export function specFromText(body: string): ClusterSpec {
  const text = `apiVersion: peerdb-upgrade/v1alpha1\nkind: PeerDBCluster\nmetadata:\n  name: prod\n  namespace: peerdb\nspec:\n${body}`;
  return resolveSpec(parseSpecText('test.yaml', text).document);
}
