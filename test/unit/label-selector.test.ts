import { describe, expect, it } from 'vitest';
import { parseLabelSelector } from '../../src/cluster/label-selector.js';

const matches = (selector: string, labels: Record<string, string>) => parseLabelSelector(selector)!(labels);

describe('label selectors matched locally, as the API server matches them', () => {
  const pod = { 'app.kubernetes.io/name': 'flow-api', tier: 'api', 'job-name': 'x' };

  it('equality: =, == and !=; every requirement must hold', () => {
    expect(matches('app.kubernetes.io/name=flow-api', pod)).toBe(true);
    expect(matches('app.kubernetes.io/name==flow-api,tier=api', pod)).toBe(true);
    expect(matches('app.kubernetes.io/name=flow-api,tier=db', pod)).toBe(false);
    expect(matches('tier!=db', pod)).toBe(true);
    expect(matches('tier!=api', pod)).toBe(false);
    // != also holds for a label that is absent, as in Kubernetes.
    expect(matches('missing!=x', pod)).toBe(true);
    expect(matches('missing=', pod)).toBe(false);
  });

  it('sets and existence: in, notin, key, !key; commas inside parentheses do not split', () => {
    expect(matches('tier in (db, api)', pod)).toBe(true);
    expect(matches('tier in (db)', pod)).toBe(false);
    expect(matches('missing in (a,b)', pod)).toBe(false);
    expect(matches('tier notin (db,web)', pod)).toBe(true);
    expect(matches('missing notin (db)', pod)).toBe(true);
    expect(matches('job-name', pod)).toBe(true);
    expect(matches('!job-name', pod)).toBe(false);
    expect(matches('!missing,tier in (api,db),app.kubernetes.io/name=flow-api', pod)).toBe(true);
  });

  it('the empty selector matches everything; one it cannot read is undefined (the caller asks the API server)', () => {
    expect(matches('', {})).toBe(true);
    expect(parseLabelSelector('tier in (a')).toBeUndefined();
    expect(parseLabelSelector('tier > 3')).toBeUndefined();
    expect(parseLabelSelector('=x')).toBeUndefined();
  });
});
