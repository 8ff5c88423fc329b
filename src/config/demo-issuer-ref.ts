import type { RawIssue } from './cross-check.js';

/**
 * Expands `issuers: [{ name: demo, demoIssuer: true }]` into the local demo issuer's entry, derived from the
 * top-level `demoIssuer` section: `issuer` and `discoveryUrl` from `demoIssuer.port` (default 8098),
 * `audiences` from `demoIssuer.audience` (default `idgate-demo`), `algorithms: [ES256]`. Keys the entry sets
 * itself are kept. This way moving the demo issuer is one edit (`demoIssuer.port`), not three.
 *
 * Works on the raw YAML value (before the schema) so every later check — names referenced by routes,
 * key-source rules — sees an ordinary issuer. Mutates `raw`; returns the problems found.
 */
export function expandDemoIssuerRefs(raw: Record<string, unknown>): RawIssue[] {
  const issues: RawIssue[] = [];
  const issuers = raw['issuers'];
  if (!Array.isArray(issuers)) return issues;
  const section = raw['demoIssuer'];
  issuers.forEach((entry: unknown, i) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || !('demoIssuer' in entry)) return;
    const e = entry as Record<string, unknown>;
    const flag = e['demoIssuer'];
    if (flag !== true && flag !== false) {
      issues.push({ path: ['issuers', i, 'demoIssuer'], message: 'expected true or false' });
      return;
    }
    if (flag === false) {
      delete e['demoIssuer'];
      return;
    }
    if (section === null || typeof section !== 'object' || Array.isArray(section)) {
      issues.push({ path: ['issuers', i, 'demoIssuer'], message: 'demoIssuer: true needs the top-level demoIssuer section (sandbox mode only)' });
      return;
    }
    const s = section as Record<string, unknown>;
    const port = typeof s['port'] === 'number' && Number.isInteger(s['port']) ? s['port'] : 8098;
    const audience = typeof s['audience'] === 'string' && s['audience'] !== '' ? s['audience'] : 'idgate-demo';
    const base = `http://127.0.0.1:${port}`;
    delete e['demoIssuer'];
    e['issuer'] ??= base;
    if (e['jwksUri'] === undefined && e['secret'] === undefined) e['discoveryUrl'] ??= `${base}/.well-known/openid-configuration`;
    e['audiences'] ??= [audience];
    e['algorithms'] ??= ['ES256'];
  });
  return issues;
}

/**
 * The JSON Schema of one `issuers[]` entry as written, from the schema of an ordinary entry (`issuer`): an
 * entry with `demoIssuer: true` needs only a name, since {@link expandDemoIssuerRefs} fills in the rest.
 */
export function withDemoIssuerRef(issuer: Record<string, unknown>): Record<string, unknown> {
  const { required = [], properties = {}, ...rest } = issuer as { required?: string[]; properties?: Record<string, unknown> };
  return {
    ...rest,
    properties: {
      ...properties,
      demoIssuer: { type: 'boolean', description: 'true: the local demo issuer (needs the top-level demoIssuer section)' },
    },
    anyOf: [{ required }, { required: ['name', 'demoIssuer'], properties: { demoIssuer: { const: true } } }],
  };
}
