import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** `idgate policy test` as a separate process: the shipped suite, failures, malformed suites, the fixed clock. */
const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'idgate', 'cli.js');
const EXAMPLE_CONFIG = join(ROOT, 'examples', 'idgate.yaml');
const dir = mkdtempSync(join(tmpdir(), 'idgate-policy-test-'));

function idgate(...args: string[]) {
  const res = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  return { code: res.status, out: res.stdout, err: res.stderr };
}

function suite(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The elements of a JUnit document, read back by a strict little parser: every tag must balance. */
function parseJunit(text: string): { name: string; attrs: Record<string, string>; body: string }[] {
  expect(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n')).toBe(true);
  const unescape = (s: string) => s.replace(/&#10;/g, '\n').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const stack: string[] = [];
  const elements: { name: string; attrs: Record<string, string>; body: string }[] = [];
  const tag = /<(\/?)([a-z]+)((?:\s+[a-z]+="[^"<]*")*)\s*(\/?)>([^<]*)/g;
  const rest = text.slice(text.indexOf('?>') + 2);
  let consumed = 0;
  for (const m of rest.matchAll(tag)) {
    expect(rest.slice(consumed, m.index).trim()).toBe('');
    consumed = m.index + m[0].length;
    const [, close, name, attrText, selfClose, body] = m;
    if (close) {
      expect(stack.pop()).toBe(name);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([a-z]+)="([^"]*)"/g)) attrs[a[1]!] = unescape(a[2]!);
    elements.push({ name: name!, attrs, body: unescape(body!) });
    if (!selfClose) stack.push(name!);
  }
  expect(rest.slice(consumed).trim()).toBe('');
  expect(stack).toEqual([]);
  return elements;
}

const FAILING = `config: ${EXAMPLE_CONFIG}
now: 2026-01-05T10:00:00Z
cases:
  - name: anonymous is denied
    request: { path: /api/orders }
    expect: { outcome: deny, code: token_missing }
  - name: wrongly expects the anonymous call to pass
    request: { path: /api/orders }
    expect: { outcome: allow, route: api, headers: { x-idgate-subject: "demo:bob" } }
`;

describe('idgate policy test', () => {
  it('passes the shipped example suite (the policy tests of examples/idgate.yaml run in make test)', () => {
    const r = idgate('policy', 'test', 'examples/policy-tests');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('✓ payments with a fresh approved KYC verdict are allowed');
    expect(r.out).toMatch(/^(\d+) passed, 0 failed \(\1 case\(s\) in 1 suite\(s\)\)$/m);
    expect(r.out).not.toContain('✗');
  });

  it('exits 1 on a failing case with a diff of expected vs got and the trace, and writes JUnit XML', () => {
    const file = suite('failing.test.yaml', FAILING);
    const junit = join(dir, 'report.xml');
    const r = idgate('policy', 'test', file, '--junit', junit);
    expect(r.code).toBe(1);
    expect(r.out).toContain('  ✓ anonymous is denied');
    expect(r.out).toContain('  ✗ wrongly expects the anonymous call to pass');
    expect(r.out).toContain('- outcome: allow\n      + outcome: deny');
    expect(r.out).toContain('- header x-idgate-subject: demo:bob\n      + header x-idgate-subject: (none)');
    // The route matched, so it is not part of the diff; the trace says why the call was denied.
    expect(r.out).not.toContain('- route:');
    expect(r.out).toMatch(/decision {2}DENY 401 token_missing/);
    expect(r.out).toContain('1 passed, 1 failed (2 case(s) in 1 suite(s))');

    const elements = parseJunit(readFileSync(junit, 'utf8'));
    expect(elements.map((e) => e.name)).toEqual(['testsuites', 'testsuite', 'testcase', 'testcase', 'failure']);
    expect(elements[0]!.attrs).toMatchObject({ tests: '2', failures: '1' });
    expect(elements[1]!.attrs).toMatchObject({ name: file, tests: '2', failures: '1' });
    expect(elements[3]!.attrs.name).toBe('wrongly expects the anonymous call to pass');
    expect(elements[4]!.attrs.message).toBe('  - outcome: allow\n  + outcome: deny\n  - header x-idgate-subject: demo:bob\n  + header x-idgate-subject: (none)');
    expect(elements[4]!.body).toContain('token_missing');
  });

  it('asserts the deciding layer and rule when a case names them (optional keys)', () => {
    const file = suite('layer.test.yaml', `config: ${EXAMPLE_CONFIG}
now: 2026-01-05T10:00:00Z
cases:
  - name: the platform route api decides
    request: { path: /api/orders }
    expect: { outcome: deny, code: token_missing, layer: platform, rule: api }
  - name: wrongly expects a guardrail
    request: { path: /api/orders }
    expect: { outcome: deny, layer: guardrail, rule: embargo }
`);
    const r = idgate('policy', 'test', file);
    expect(r.code).toBe(1);
    expect(r.out).toContain('  ✓ the platform route api decides');
    expect(r.out).toContain('- layer: guardrail\n      + layer: platform');
    expect(r.out).toContain('- rule: embargo\n      + rule: api');
    expect(r.out).toMatch(/decided {3}platform api/);
  });

  it('prints the results as JSON with --format json', () => {
    const file = suite('json.test.yaml', FAILING);
    const r = idgate('policy', 'test', '--format', 'json', file);
    expect(r.code).toBe(1);
    const json = JSON.parse(r.out) as { suites: { cases: { passed: boolean; got: { outcome: string; code?: string } }[] }[] };
    expect(json.suites[0]!.cases.map((c) => c.passed)).toEqual([true, false]);
    expect(json.suites[0]!.cases[1]!.got).toMatchObject({ outcome: 'deny', code: 'token_missing' });
  });

  it('exits 2 on a malformed suite, naming file:line:col and the rule broken', () => {
    const file = suite('bad.test.yaml', `config: ${EXAMPLE_CONFIG}\ncases:\n  - name: typo\n    request: { path: /healthz }\n    expect: { outcome: alow }\n  - name: extra\n    expekt: {}\n    expect: { outcome: allow }\n`);
    const r = idgate('policy', 'test', file);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:24 cases\\[0\\]\\.expect\\.outcome: .*allow`));
    expect(r.err).toContain(`${file}:7:5 cases[1].expekt: unknown key "expekt"`);
  });

  it('exits 2 when a tenant of the suite\'s config failed to load, naming its file:line:col (its cases still run)', () => {
    const org = mkdtempSync(join(dir, 'org-'));
    const config = join(org, 'idgate.yaml');
    writeFileSync(
      config,
      `policy:\n  tenants:\n    - { name: shop, owns: { hosts: [shop.example.com] }, files: [shop.yaml] }\n  routes:\n    - { id: healthz, match: { path: /healthz }, public: true }\n`,
    );
    writeFileSync(join(org, 'shop.yaml'), 'routes:\n  - { id: cart, match: { host: pay.example.com }, public: true }\n');
    const file = suite('tenant.test.yaml', `config: ${config}\ncases:\n  - name: health\n    request: { path: /healthz }\n    expect: { outcome: allow, route: healthz }\n`);
    const r = idgate('policy', 'test', file);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`tenant "shop" (failed): ${join(org, 'shop.yaml')}:2:32 routes[0].match.host: host "pay.example.com" is not owned by tenant "shop" (owns shop.example.com)`);
  });

  it('exits 2 on a YAML syntax error and on a simulated verdict for an unknown workflow', () => {
    const syntax = suite('syntax.test.yaml', `config: ${EXAMPLE_CONFIG}\ncases:\n  - name: a\n    expect: { outcome: allow\n`);
    const r = idgate('policy', 'test', syntax);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`syntax\\.test\\.yaml:5:1:? YAML syntax error`));

    const workflow = suite('workflow.test.yaml', `config: ${EXAMPLE_CONFIG}\ncases:\n  - name: a\n    verifications: { kcy: { status: Approved } }\n    expect: { outcome: allow }\n`);
    const w = idgate('policy', 'test', workflow);
    expect(w.code).toBe(2);
    expect(w.err).toContain(`${workflow}:4:22 cases[0].verifications.kcy: unknown workflow "kcy" (defined: kyc, age_over_18)`);
  });

  it('evaluates a time window at the case clock, not the wall clock', () => {
    const config = suite('office.yaml', [
      'didit: { mode: sandbox, apiKey: k, webhookSecret: s }',
      'policy:',
      '  routes:',
      '    - id: office',
      '      match: { prefix: /office }',
      '      public: true',
      '      conditions:',
      '        - name: office-hours',
      '          when: { time: { outside: { days: [mon-fri], hours: "08:00-18:00", timeZone: UTC } } }',
      '          then: deny',
      '',
    ].join('\n'));
    const file = suite('office.test.yaml', [
      `config: office.yaml`,
      'cases:',
      '  - name: Monday morning',
      '    now: 2026-01-05T09:30:00Z',
      '    request: { path: /office/desk }',
      '    expect: { outcome: allow, route: office }',
      '  - name: Monday night',
      '    now: 2026-01-05T21:00:00+00:00',
      '    request: { path: /office/desk }',
      '    expect: { outcome: deny, code: time_denied, route: office }',
      '  - name: Saturday morning, expected (wrongly) to pass',
      '    now: 2026-01-10T09:30:00Z',
      '    request: { path: /office/desk }',
      '    expect: { outcome: allow }',
      '',
    ].join('\n'));
    expect(config).toBe(join(dir, 'office.yaml'));
    const r = idgate('policy', 'test', file);
    expect(r.err).toBe('');
    expect(r.code).toBe(1);
    expect(r.out).toContain('✓ Monday morning');
    expect(r.out).toContain('✓ Monday night');
    expect(r.out).toContain('✗ Saturday morning, expected (wrongly) to pass');
    expect(r.out).toContain('+ outcome: deny');
  });

  it('refuses a missing or unknown subcommand and a missing path with usage (exit 2)', () => {
    const unknown = idgate('policy', 'tset');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown subcommand "tset" (did you mean "test"?)');
    expect(idgate('policy').code).toBe(2);
    const none = idgate('policy', 'test');
    expect(none.code).toBe(2);
    expect(none.err).toContain('FILE|DIR is required');
    const top = idgate('polcy');
    expect(top.code).toBe(2);
    expect(top.err).toContain('did you mean "policy"?');
    expect(top.err).toContain('idgate policy test FILE|DIR…');
  });
});
