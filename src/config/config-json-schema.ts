import { z } from 'zod';
import { createCelCompiler } from '../cel/compile-cel.js';
import { createConfigSchema, tenantFileSchema } from './config-schema.js';
import { withDemoIssuerRef } from './demo-issuer-ref.js';

/** One line per top-level section, from the field docs in config-schema.ts (what an editor shows on hover). */
const SECTION_DESCRIPTIONS: Readonly<Record<string, string>> = {
  server: 'The listeners: grpc (ext_authz, :9191), httpAuthz (:9192), public (webhooks, :8080), admin (:9090).',
  issuers: 'Trusted JWT issuers (JWKS or OIDC discovery, or a shared secret), with audiences, algorithms and token sources.',
  headers: 'The x-idgate-* identity headers sent upstream on allow.',
  policy: 'Routes (match → public, deny or require), sensitivity levels, role claims and the default action; org-wide: guardrails, tenants (with their own route files) and defaults.',
  workflows: 'Didit verification workflows, by name (referenced by require.verification and stepUp effects).',
  didit: 'Didit identity verification: mode (sandbox or live), API key, webhook secrets and timeouts.',
  store: 'Where verdicts and sessions are kept: memory (one replica) or redis (shared).',
  network: 'Trusted proxies whose x-forwarded-* headers are believed.',
  logging: 'Log level and format.',
  tracing: 'OpenTelemetry tracing (off by default).',
  demoIssuer: 'A local OpenID Provider for trying idgate (`make run`); only with didit.mode: sandbox.',
  context: 'Where request context (country, device) comes from: headers the proxy sets itself.',
  risk: 'Continuous-verification signals (new device, country change, velocity…) and their weights.',
};

/**
 * The JSON Schema (draft 2020-12) of the YAML a user writes — the *input* side of the zod schemas:
 * durations as `30s` or numbers, `{ env: NAME }` secrets, defaults shown as `default`. Parts that are
 * parsed by hand (conditions, effects, matchers, secrets, durations) describe themselves with `.meta()`
 * beside their parser. Checks only code can make (cross-references, CEL compilation, port clashes, secret
 * resolution) are left to `idgate validate`: an editor catches shape errors, the loader catches the rest.
 */
export function configJsonSchema(): Record<string, unknown> {
  // Secrets are resolved only while parsing, never while describing: no environment is needed.
  const schema = z.toJSONSchema(createConfigSchema({ env: {} }, createCelCompiler()), {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  const properties = schema['properties'] as Record<string, Record<string, unknown>>;
  const issuers = properties['issuers'] as { items: Record<string, unknown> };
  issuers.items = withDemoIssuerRef(issuers.items);
  for (const [key, description] of Object.entries(SECTION_DESCRIPTIONS)) {
    const section = properties[key];
    if (section !== undefined) section['description'] ??= description;
  }
  const { $schema, ...rest } = schema;
  // No `$id`: the project has no published URL; editors refer to the file by path (see README).
  return { $schema, title: 'idgate configuration', ...rest };
}

/**
 * The JSON Schema of a tenant file (`policy.tenants[].files`): one key, `routes:`, in the platform file's
 * route format. Ownership, guardrail merges and references to the platform's issuers, workflows and
 * levels need the platform file: `idgate validate` on it checks them.
 */
export function tenantFileJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(tenantFileSchema(createCelCompiler()), {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  const { $schema, ...rest } = schema;
  return {
    $schema,
    title: 'idgate tenant policy file',
    description: 'A team\'s routes (first match wins within the tenant); only routes: is allowed. Checked in full by idgate validate on the platform file.',
    ...rest,
  };
}
