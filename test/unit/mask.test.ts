import { describe, expect, it } from 'vitest';
import { describeEnvValue, maskEnv, maskValue } from '../../src/plan/mask.js';

describe('masking literal values', () => {
  it('masks the whole value of a secret-looking name', () => {
    expect(maskValue('API_TOKEN', 'abc')).toBe('****');
    expect(describeEnvValue({ name: 'PEERDB_CATALOG_PASSWORD', value: 'pw' })).toBe('****');
  });

  it('masks the password inside a URI whatever the variable is called', () => {
    expect(maskValue('DATABASE_URL', 'postgres://user:pw@db:5432/app')).toBe('postgres://user:****@db:5432/app');
    expect(maskValue('TEMPORAL_DSN', 'mysql+tls://root:p%40ss@10.0.0.1/x?y=1')).toBe('mysql+tls://root:****@10.0.0.1/x?y=1');
    expect(maskEnv([{ name: 'DSN', value: 'see https://a:b@h and https://c:d@i' }])).toEqual([{ name: 'DSN', value: 'see https://a:****@h and https://c:****@i' }]);
  });

  it('leaves values without credentials alone', () => {
    expect(maskValue('PEERDB_CATALOG_HOST', 'catalog.svc:5432')).toBe('catalog.svc:5432');
    expect(maskValue('URL', 'https://user@host/path')).toBe('https://user@host/path');
    expect(maskValue('URL', 'https://host:8443/path')).toBe('https://host:8443/path');
  });
});
