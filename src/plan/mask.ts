import type { EnvVar, JobManifest } from '../cluster/types.js';

const SECRET_NAME = /pass|token|secret|key|credential|private|cert/i;
export const MASK = '****';

/** How an env var is shown: secret references as references, secret-looking literals masked. */
export function describeEnvValue(env: EnvVar): string {
  const from = env.valueFrom;
  if (from?.secretKeyRef) return `<secret ${from.secretKeyRef.name}/${from.secretKeyRef.key}>`;
  if (from?.configMapKeyRef) return `<configmap ${from.configMapKeyRef.name}/${from.configMapKeyRef.key}>`;
  if (from?.fieldRef) return `<field ${from.fieldRef.fieldPath}>`;
  if (from?.resourceFieldRef) return `<resource ${from.resourceFieldRef.resource}>`;
  if (env.value === undefined) return '';
  return SECRET_NAME.test(env.name) && env.value !== '' ? MASK : env.value;
}

export function maskEnv(env: readonly EnvVar[]): EnvVar[] {
  return env.map((e) => (e.value !== undefined && SECRET_NAME.test(e.name) && e.value !== '' ? { ...e, value: MASK } : e));
}

/** A copy of the manifest fit to print: literal values of secret-looking variables masked. */
export function maskManifest(manifest: JobManifest): JobManifest {
  const copy = structuredClone(manifest);
  for (const container of copy.spec.template.spec.containers) {
    if (container.env) container.env = maskEnv(container.env);
  }
  return copy;
}
