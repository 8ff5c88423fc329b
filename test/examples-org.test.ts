import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * examples/org (issue #14): the organisation example loads as shipped and its policy suites pass, through the
 * real CLI as a separate process, as `make test` runs them. The suites sit in tests/ because `policy test`
 * reads every YAML file under the directory it is given as a suite.
 */
const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'idgate', 'cli.js');
const ORG = join(ROOT, 'examples', 'org');
const PLATFORM = join(ORG, 'platform.yaml');
const SUITES = join(ORG, 'tests');

function idgate(...args: string[]) {
  const res = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { code: res.status, out: res.stdout, err: res.stderr };
}

const yamlFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(dir, f)).sort();

const platform = parse(readFileSync(PLATFORM, 'utf8')) as { policy: { tenants: { name: string; files: string[] }[]; guardrails: { id: string }[] } };
const tenantFiles = platform.policy.tenants.flatMap((t) => t.files.map((f) => resolve(ORG, f)));
const suites = yamlFiles(SUITES);
const caseCount = suites.reduce((n, f) => n + (parse(readFileSync(f, 'utf8')) as { cases: unknown[] }).cases.length, 0);

describe('examples/org as shipped', () => {
  it('every YAML file is the platform file, a tenant file it names, or a suite testing the platform file', () => {
    const accounted = [PLATFORM, ...tenantFiles, ...suites].sort();
    expect(yamlFiles(ORG).map((f) => relative(ORG, f))).toEqual(accounted.map((f) => relative(ORG, f)));
    for (const suite of suites) {
      const { config } = parse(readFileSync(suite, 'utf8')) as { config: string };
      expect(resolve(join(suite, '..'), config), suite).toBe(PLATFORM);
    }
  });

  it('tenant files hold only routes, and every tenant and guardrail name is distinct', () => {
    for (const file of tenantFiles) expect(Object.keys(parse(readFileSync(file, 'utf8')) as object), file).toEqual(['routes']);
    const names = platform.policy.tenants.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    const ids = platform.policy.guardrails.map((g) => g.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('idgate validate loads the platform file and every tenant file it names (exit 0)', () => {
    const r = idgate('validate', PLATFORM);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('valid');
  });

  it('idgate policy test passes every case of every suite (exit 0)', () => {
    const r = idgate('policy', 'test', SUITES);
    expect(r.err).toBe('');
    expect(r.out).not.toContain('✗');
    expect(r.out).toContain(`${caseCount} passed, 0 failed (${caseCount} case(s) in ${suites.length} suite(s))`);
    expect(r.code).toBe(0);
  });

  // docs/platform-teams.md's CI step and docs/decision-log.md's synopsis, on the shipped files.
  it('idgate policy diff --from … --to … on an unchanged example: nothing loosened (exit 0), text and json', () => {
    const text = idgate('policy', 'diff', '--from', PLATFORM, '--to', PLATFORM);
    expect(text.err).toBe('');
    expect(text.out).toContain('static: no rule changed');
    expect(text.out).toContain('result: nothing loosened');
    expect(text.code).toBe(0);
    const json = idgate('policy', 'diff', '--from', PLATFORM, '--to', PLATFORM, '--format', 'json');
    expect(JSON.parse(json.out)).toMatchObject({ static: [], loosening: 0, exitCode: 0 });
    expect(json.code).toBe(0);
  });
});
