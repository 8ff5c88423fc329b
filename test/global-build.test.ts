import { describe, expect, it } from 'vitest';
import { distIsFresh } from './support/global-build.js';

describe('test runs build first', () => {
  // The process-level suites spawn the bundle (dist/idgate/cli.js); vitest's global setup rebuilds it first.
  it.skipIf(process.env.IDGATE_TEST_SKIP_BUILD === '1')('dist/ is built from the current sources', () => {
    expect(distIsFresh()).toBe(true);
  });
});
