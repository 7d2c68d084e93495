import { defineConfig } from 'vitest/config';

// End-to-end tests: the built CLI (test/e2e/cli.ts) against a throw-away control plane
// (test/cluster, test/e2e/harness.ts). The globalSetup builds the control-plane binaries (cached
// outside the repo; a cold build takes several minutes) and dist/, then starts ONE control plane
// that every test file shares; each test works in a namespace of its own.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    globalSetup: ['test/e2e/cli.ts', 'test/e2e/helm.ts', 'test/e2e/harness.ts'],
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    pool: 'forks',
  },
});
