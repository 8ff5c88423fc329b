import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Process-level suites spawn the bundle, dist/idgate/cli.js: rebuild dist/ (incrementally) before every run.
    globalSetup: ['test/support/global-build.ts'],
  },
});
