import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { forEachField, JSON_SCHEMA_FILE, renderJsonSchema, specJsonSchema } from '../../src/spec/json-schema.js';
import { parseSpecText } from '../../src/spec/load-spec.js';
import { parseVersion } from '../../src/spec/version.js';

const HEAD = 'apiVersion: peerdb-upgrade/v1alpha1\nkind: PeerDBCluster\nmetadata:\n  name: prod\n  namespace: peerdb\nspec:\n';

const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
const validate = ajv.compile(JSON.parse(readFileSync(JSON_SCHEMA_FILE, 'utf8')));

/** The schema's verdict and the tool's own, for one spec body. */
function verdicts(body: string): { schema: boolean; tool: boolean; errors: string[] } {
  const text = `${HEAD}${body}`;
  const schema = validate(parse(text)) as boolean;
  let tool = true;
  try {
    parseSpecText('x.yaml', text);
  } catch {
    tool = false;
  }
  return { schema, tool, errors: (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`) };
}

describe('the JSON Schema of the spec file', () => {
  it(`is checked in at ${JSON_SCHEMA_FILE} and up to date with the zod schema`, () => {
    const stale = 'stale: regenerate it with `npm run build && node bin/peerdb-upgrade.js schema > schema/peerdb-cluster.schema.json`';
    expect(readFileSync(JSON_SCHEMA_FILE, 'utf8'), stale).toBe(renderJsonSchema());
  });

  it('is what `peerdb-upgrade schema` prints', () => {
    const result = spawnSync(process.execPath, ['bin/peerdb-upgrade.js', 'schema'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(renderJsonSchema());
  });

  it('names itself and describes every field, for editors', () => {
    const schema = specJsonSchema();
    expect(schema).toMatchObject({ $schema: 'https://json-schema.org/draft/2020-12/schema', $id: expect.stringMatching(/^urn:/), title: 'PeerDBCluster' });
    const undescribed: string[] = [];
    forEachField(schema, (path, field) => {
      if (typeof field.description !== 'string' || field.description === '') undescribed.push(path);
    });
    expect(undescribed).toEqual([]);
  });

  it.each(readdirSync('plans').filter((f) => f.endsWith('.yaml')))('accepts plans/%s, which points editors at it', (file) => {
    const text = readFileSync(`plans/${file}`, 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schema/peerdb-cluster.schema.json');
    expect(validate(parse(text)), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each([
    ['an unknown field', '  version: v0.37.4\n  maintenence: {}\n', '/spec must NOT have additional properties'],
    ['an unknown field in a component', '  version: v0.37.4\n  components:\n    - { name: a, workload: Deployment/a, readyTimout: 5m }\n', '/spec/components/0 must NOT have additional properties'],
    ['a wrong type', '  version: v0.37.4\n  maintenance:\n    backoffLimit: "four"\n', '/spec/maintenance/backoffLimit must be integer'],
    ['a list where a mapping belongs', '  version: v0.37.4\n  images: []\n', '/spec/images must be object'],
    ['a bad duration', '  version: v0.37.4\n  maintenance:\n    timeout: 2 hours\n', '/spec/maintenance/timeout must match pattern'],
    ['a bad workload reference', '  version: v0.37.4\n  components:\n    - { name: a, workload: ReplicaSet/a }\n', '/spec/components/0/workload must match pattern'],
    ['a mutable tag for a version', '  version: latest\n', '/spec/version must match pattern'],
    ['an image tag for a version', '  version: stable-v0.37.4\n', '/spec/version must match pattern'],
    ['an init job with neither image nor preset', '  version: v0.37.4\n  initJobs:\n    - name: a\n', '/spec/initJobs/0 must match exactly one schema in oneOf'],
    ['an init job with both image and preset', '  version: v0.37.4\n  initJobs:\n    - { name: a, preset: catalog-migrations, image: "x:1" }\n', '/spec/initJobs/0 must match exactly one schema in oneOf'],
    ['a component image with a tag', '  version: v0.37.4\n  components:\n    - { name: a, workload: Deployment/a, image: ghcr.io/x/a:v1 }\n', '/spec/components/0/image must NOT be valid'],
    ['negative replicas', '  version: v0.37.4\n  components:\n    - { name: a, workload: Deployment/a, replicas: -1 }\n', '/spec/components/0/replicas must be >= 0'],
    ['an empty component list', '  version: v0.37.4\n  components: []\n', '/spec/components must NOT have fewer than 1 items'],
  ])('rejects %s, as the tool does', (_what, body, error) => {
    const result = verdicts(body);
    expect(result.tool).toBe(false);
    expect(result.schema).toBe(false);
    expect(result.errors.join('\n')).toContain(error);
  });

  it('rejects a wrong apiVersion, kind, or a missing version', () => {
    expect(validate(parse(`${HEAD.replace('peerdb-upgrade/v1alpha1', 'v1')}  version: v0.37.4\n`))).toBe(false);
    expect(validate(parse(`${HEAD.replace('PeerDBCluster', 'Deployment')}  version: v0.37.4\n`))).toBe(false);
    expect(validate(parse(`${HEAD}  images: {}\n`))).toBe(false);
  });

  it.each([
    ['a registry with a port', '  version: v0.37.4\n  components:\n    - { name: a, workload: Deployment/a, image: "registry.local:5000/peerdb/a" }\n'],
    ['letter and patch re-releases', '  version: v0.15.1a\n'],
    ['a -patchN release', '  version: v0.11.3-patch1\n'],
    ['a version without the v', '  version: 0.37.4\n'],
  ])('accepts %s, as the tool does', (_what, body) => {
    const result = verdicts(body);
    expect(result).toMatchObject({ tool: true, schema: true });
  });

  it('agrees with parseVersion on what a version is', () => {
    const pattern = new RegExp((specJsonSchema() as { properties: { spec: { properties: { version: { pattern: string } } } } }).properties.spec.properties.version.pattern, 'u');
    const samples = ['v0.37.4', '0.37.4', 'v1.0.0', 'v0.15.1a', 'v0.13.5b', 'v0.11.3-patch1', 'v0.11.3-patch0', 'v0.37', 'v01.2.3', 'latest', 'stable', 'stable-v0.37.4', 'v0.37.4-rc1', 'v0.37.4ab', 'v1234567.0.0', ''];
    for (const sample of samples) expect(pattern.test(sample), sample).toBe(parseVersion(sample).ok);
  });
});
