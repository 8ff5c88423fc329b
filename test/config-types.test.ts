import { describe, expect, expectTypeOf, it } from 'vitest';
import { parseConfig } from '../src/config/parse-config.js';
import type { DiditConfig, IdgateConfig, IssuerConfig, JwtAlgorithm, PolicyConfig, ServerConfig, WorkflowConfig } from '../src/config/types.js';

/**
 * The configuration's types are derived from its schema (z.output, made deeply readonly). These assertions
 * are checked by `tsc` (make typecheck / make build): a schema change that loosens a type, drops readonly or
 * turns a section into `any` fails the build.
 */
describe('configuration types derived from the schema', () => {
  it('are deeply readonly and exact where consumers rely on them', () => {
    expectTypeOf<IdgateConfig>().not.toBeAny();
    expectTypeOf<IdgateConfig['issuers']>().toEqualTypeOf<readonly IssuerConfig[]>();
    expectTypeOf<IssuerConfig['algorithms']>().toEqualTypeOf<readonly JwtAlgorithm[]>();
    expectTypeOf<IssuerConfig['maxTokenLifetimeMs']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<ServerConfig['admin']>().toEqualTypeOf<{ readonly host: string; readonly port: number; readonly token?: string }>();
    expectTypeOf<DiditConfig['mode']>().toEqualTypeOf<'sandbox' | 'live'>();
    expectTypeOf<DiditConfig['apiKey']>().toEqualTypeOf<string>();
    expectTypeOf<IdgateConfig['workflows']>().toEqualTypeOf<{ readonly [name: string]: WorkflowConfig }>();
    expectTypeOf<WorkflowConfig>().toEqualTypeOf<{
      readonly name: string;
      readonly workflowId: string;
      readonly maxAgeMs: number;
      readonly minAge?: number;
      readonly requireAmlClear: boolean;
      readonly requireDocumentValid: boolean;
    }>();
    // A default in the schema makes the field always present: consumers need no `?? 'deny'`.
    expectTypeOf<PolicyConfig['methodOverride']>().toEqualTypeOf<'deny' | 'honor'>();
  });

  it('a parsed configuration carries the schema defaults', () => {
    const config = parseConfig('', { sourceName: 't.yaml', env: {} });
    expect(config.policy.methodOverride).toBe('deny');
    // The wiring used to apply this one (`?? 'sandbox-api-key'` in start-idgate.ts).
    expect(config.didit).toMatchObject({ mode: 'sandbox', apiKey: 'sandbox-api-key' });
    expect(parseConfig('didit: { mode: sandbox, apiKey: my-key }', { sourceName: 't.yaml', env: {} }).didit.apiKey).toBe('my-key');
    expect(config.issuers).toEqual([]);
    expect(config.server.admin).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(Object.isFrozen(config.server.admin)).toBe(true);
  });
});
