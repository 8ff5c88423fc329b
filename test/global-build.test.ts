import { describe, expect, it } from 'vitest';
import { distIsFresh } from './support/global-build.js';

describe('test runs build first', () => {
  // The process-level suites spawn dist/src/cli.js; vitest's global setup rebuilds it before any test runs.
  it.skipIf(process.env.IDGATE_TEST_SKIP_BUILD === '1')('dist/ is built from the current sources', () => {
    expect(distIsFresh()).toBe(true);
  });
});
