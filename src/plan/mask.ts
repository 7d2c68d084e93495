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
  return maskValue(env.name, env.value);
}

/** userinfo with a password in a URI: `postgres://user:pw@host` (any scheme). */
const URI_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*):[^\s/?#@]*@/gi;

/**
 * A literal value fit to print or save: all of it when the name suggests a secret, else any password
 * inside a URI (`DATABASE_URL=postgres://user:****@db`), whatever the variable is called.
 */
export function maskValue(name: string, value: string): string {
  if (value === '') return value;
  if (SECRET_NAME.test(name)) return MASK;
  return value.replace(URI_CREDENTIALS, `$1:${MASK}@`);
}

export function maskEnv(env: readonly EnvVar[]): EnvVar[] {
  return env.map((e) => (e.value !== undefined && maskValue(e.name, e.value) !== e.value ? { ...e, value: maskValue(e.name, e.value) } : e));
}

/** A copy of the manifest fit to print: literal values of secret-looking variables masked. */
export function maskManifest(manifest: JobManifest): JobManifest {
  const copy = structuredClone(manifest);
  for (const container of copy.spec.template.spec.containers) {
    if (container.env) container.env = maskEnv(container.env);
  }
  return copy;
}
