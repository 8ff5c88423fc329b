// @ts-check
/**
 * Mutation testing of the security-critical modules (`make mutation`; not part of `make test`).
 * Stryker changes one operator, condition or literal at a time in these files and reruns the unit tests that
 * cover it; a mutant no test notices ("survived") is a check the suite does not really guard.
 * Scores per module are published in docs/security.md. Stryker 10 needs Node >= 22: run it through make.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  mutate: [
    'src/identity/jwt-verifier.ts',
    'src/identity/token-cache.ts',
    'src/didit/verify-webhook-signature.ts',
    'src/didit/canonical-json.ts',
    'src/didit/python-json.ts',
    'src/core/canonical-path.ts',
    'src/net/resolve-client-address.ts',
    'src/net/parse-ip.ts',
    'src/net/parse-cidr.ts',
    'src/net/create-cidr-set.ts',
    'src/verification/evaluate-verdict.ts',
    'src/store/verdict-order.ts',
    'src/core/render-decision.ts',
    'src/core/parse-http-url.ts',
    'src/core/encode-identity-value.ts',
    'src/extauthz/to-check-response.ts',
    'src/httpauthz/to-http-authz-reply.ts',
  ],
  coverageAnalysis: 'perTest',
  // Only what the unit tests need is copied to the sandbox (no dist/, bench/ or e2e fixtures).
  ignorePatterns: [
    '/dist', '/bench', '/docs', '/k8s', '/envoy', '/reports', '/test-artifacts', '/.runtime', '/.stryker-tmp*',
    '/test/*', '!/test/didit-signature.test.ts', '!/test/fixtures', '/test/fixtures/*', '!/test/fixtures/didit',
  ],
  // Static mutants (module-level constants and tables) force a rerun of every test per mutant and took 64 % of
  // the run time; they are reported as ignored, not counted as killed.
  ignoreStatic: true,
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  concurrency: 2,
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 95, low: 90, break: 90 },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
