import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configJsonSchema, tenantFileJsonSchema } from '../src/config/config-json-schema.js';
import { parseConfig } from '../src/config/parse-config.js';
import { testConfigYaml } from './support/config-yaml.js';

const SCHEMA_FILE = 'schema/idgate.schema.json';
const FIX = 'node dist/idgate/cli.js schema > schema/idgate.schema.json (after make build)';

// A real draft 2020-12 validator, strict: a keyword it does not know (a typo in a `.meta()`) is an error.
// `required` inside an anyOf/oneOf branch names properties declared beside the branch (demoIssuer refs,
// device header|claim), which is plain JSON Schema; strictTypes wants `type` repeated in such branches.
const ajv = new Ajv2020({ strict: true, strictRequired: false, strictTypes: false, allErrors: true });
// The one format the schema uses (`tracing.endpoint`, a zod `z.url()`), checked as zod checks it.
ajv.addFormat('uri', (s: string) => URL.canParse(s));
const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as object);

/** The schema's verdict on a YAML text, with ajv's errors to show when it disagrees. */
function schemaErrors(text: string): string[] {
  if (validate(parse(text))) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}

/** Every `{ env: NAME }` in `text`, set to a value long enough for any secret rule. */
function envFor(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/env:\s*([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => [m[1], 'x'.repeat(48)]));
}

function loads(text: string): boolean {
  try {
    parseConfig(text, { sourceName: 'snippet.yaml', env: envFor(text) });
    return true;
  } catch {
    return false;
  }
}

describe('the committed JSON Schema (schema/idgate.schema.json)', () => {
  it('is what `idgate schema` generates from the schema code today', () => {
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    const generated = `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
    expect(committed === generated, `${SCHEMA_FILE} is out of date; regenerate it: ${FIX}`).toBe(true);
  });

  it('is draft 2020-12 and describes every hand-parsed part (no key left as "anything")', () => {
    const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
    expect(schema['$schema']).toBe('https://json-schema.org/draft/2020-12/schema');
    const blank: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}/${i}`));
      const o = node as Record<string, unknown>;
      for (const [key, value] of Object.entries(o)) {
        if (key === 'default' || key === 'const' || key === 'enum') continue;
        const described = value !== null && typeof value === 'object' && !Array.isArray(value);
        if (key !== 'properties' && described && path.endsWith('/properties') && Object.keys(value).every((k) => k === 'description')) {
          blank.push(`${path}/${key}`);
        }
        walk(value, `${path}/${key}`);
      }
    };
    walk(schema, '');
    expect(blank).toEqual([]);
  });
});

describe('every shipped config validates against the schema', () => {
  it.each(['examples/idgate.yaml', 'k8s/base/idgate.yaml'])('%s', (file) => {
    const text = readFileSync(file, 'utf8');
    expect(loads(text), `${file} must load`).toBe(true);
    expect(schemaErrors(text)).toEqual([]);
  });

  it('the integration tests\' config (test/support/config-yaml.ts), plain and with every option', () => {
    const base = { issuer: 'http://127.0.0.1:1/', jwksUri: 'http://127.0.0.1:1/jwks' };
    const full = testConfigYaml({
      ...base,
      redisUrl: 'redis://127.0.0.1:6379',
      localCacheTtl: '0s',
      adminToken: 'admin-token-0123456789',
      trustedProxies: ['10.0.0.0/8'],
      cookieToken: 'session',
      didit: {
        apiKey: 'k'.repeat(40),
        webhookSecret: 's'.repeat(43),
        kycWorkflowId: '00000000-0000-0000-0000-000000000001',
        ageWorkflowId: '00000000-0000-0000-0000-000000000002',
        reconcileAfter: '1s',
        sweepInterval: '1s',
      },
    });
    for (const text of [testConfigYaml(base), full]) {
      expect(loads(text), text).toBe(true);
      expect(schemaErrors(text), text).toEqual([]);
    }
  });

  it('workload identity: match.principals and a principal condition (issue 14 §5)', () => {
    const text = `issuers:
  - { name: corp, issuer: "https://corp.example", audiences: [api], jwksUri: "https://corp.example/jwks" }
policy:
  routes:
    - id: internal
      match: { prefix: /internal, principals: ["spiffe://cluster.local/ns/shop/*"] }
      public: true
    - id: api
      match: { prefix: /api }
      require: { authenticated: true }
      conditions:
        - { name: shop-only, when: { principal: { in: ["spiffe://cluster.local/ns/shop/sa/web"] } }, then: allow }
        - { name: others, when: { principal: { notIn: ["spiffe://cluster.local/ns/shop/sa/web"] } }, then: deny }
`;
    expect(loads(text), text).toBe(true);
    expect(schemaErrors(text)).toEqual([]);
  });

  it('every YAML block in the docs that idgate loads as a whole config', () => {
    const files = ['README.md', 'docs/policy-reference.md', 'docs/deployment.md'];
    let checked = 0;
    for (const file of files) {
      for (const [, block = ''] of readFileSync(file, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)) {
        // A snippet idgate accepts must not get red squiggles in an editor; fragments are skipped.
        if (!loads(block)) continue;
        checked++;
        expect(schemaErrors(block), `${file}:\n${block}`).toEqual([]);
      }
    }
    expect(checked).toBeGreaterThan(0);
  });
});

describe('the schema rejects what idgate rejects (an editor flags it before a deploy does)', () => {
  const valid = readFileSync('examples/idgate.yaml', 'utf8');
  const cases: [string, string][] = [
    ['an unknown top-level key', `${valid}\npolicyy: {}\n`],
    ['an unknown nested key', 'server:\n  grpc: { prot: 9191 }\n'],
    ['a wrong type', 'server:\n  grpc: { port: "9191" }\n'],
    ['a bad duration', 'server:\n  shutdownGrace: 10 seconds\n'],
    ['a duration of the wrong type', 'store:\n  localCacheTtl: [5s]\n'],
    ['a secret reference with an unknown key', 'server:\n  admin: { token: { vault: x } }\n'],
    ['a JWT algorithm idgate never accepts', 'issuers:\n  - { name: a, issuer: https://a/, audiences: [x], jwksUri: https://a/j, algorithms: [none] }\n'],
    ['a route path matcher with two kinds', 'policy:\n  routes:\n    - id: r\n      match: { paths: [{ exact: /a, prefix: /b }] }\n      action: public\n'],
    ['a condition with two tests', 'policy:\n  routes:\n    - id: r\n      match: { prefix: / }\n      action: public\n      conditions:\n        - name: c\n          when: { cel: "true", risk: { scoreAtLeast: 1 } }\n          then: deny\n'],
    ['a condition with an unknown effect', 'policy:\n  routes:\n    - id: r\n      match: { prefix: / }\n      action: public\n      conditions:\n        - name: c\n          when: { cel: "true" }\n          then: block\n'],
    ['a claim matcher with an unknown key', 'policy:\n  routes:\n    - id: r\n      match: { prefix: / }\n      require: { claims: { email_verified: { is: true } } }\n'],
  ];
  it.each(cases)('%s', (_what, text) => {
    expect(loads(text), 'idgate itself must reject the case').toBe(false);
    expect(schemaErrors(text).length).toBeGreaterThan(0);
  });
});

describe('the committed tenant file schema (schema/idgate-tenant.schema.json)', () => {
  const TENANT_SCHEMA_FILE = 'schema/idgate-tenant.schema.json';
  const committed = readFileSync(TENANT_SCHEMA_FILE, 'utf8');
  const validateTenant = ajv.compile(JSON.parse(committed) as object);

  it('is what `idgate schema --tenant` generates today', () => {
    const generated = `${JSON.stringify(tenantFileJsonSchema(), null, 2)}\n`;
    expect(committed === generated, `${TENANT_SCHEMA_FILE} is out of date; regenerate it: node dist/idgate/cli.js schema --tenant > ${TENANT_SCHEMA_FILE}`).toBe(true);
  });

  it('accepts a tenant file of routes and rejects platform keys in it', () => {
    const routes = 'routes:\n  - { id: refunds, match: { prefix: /refunds }, require: { scopes: [refunds] } }\n';
    expect(validateTenant(parse(routes))).toBe(true);
    for (const extra of ['guardrails: []\n', 'tenants: []\n', 'policy: {}\n', 'routez: []\n']) {
      expect(validateTenant(parse(`${routes}${extra}`)), extra).toBe(false);
    }
  });
});
