import { defineConfig } from 'vitest/config';

// End-to-end tests against a throw-away control plane (test/cluster, test/e2e/harness.ts).
// The globalSetup builds the control-plane binaries once (cached outside the repo; a cold
// build takes several minutes); each test file then starts its own cluster in a few seconds.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    globalSetup: ['test/e2e/harness.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    pool: 'forks',
  },
});
