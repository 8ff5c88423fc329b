import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../src/observability/metrics.js';
import { dashboardExpressions, promtoolPath, ruleExpressions, type RuleGroup } from './support/monitoring.js';

/**
 * The shipped alert rules and dashboard, checked as shipped: promtool's own syntax check and its unit tests
 * (one firing and one silent case per alert), the PrometheusRule for the Operator identical to the plain
 * rules file, and every metric any expression names registered by idgate. test/e2e/monitoring-prometheus.test.ts
 * then evaluates all of them on a real Prometheus scraping a running idgate.
 */
const RULES = 'monitoring/prometheus-rules.yaml';
const RULE_TESTS = 'monitoring/prometheus-rules.test.yaml';
const OPERATOR_RULE = 'k8s/overlays/istio/prometheusrule.yaml';
const DASHBOARD = 'monitoring/grafana-dashboard.json';

const groups = (parse(readFileSync(RULES, 'utf8')) as { groups: RuleGroup[] }).groups;
const alerts = groups.flatMap((g) => g.rules.map((r) => r.alert));

function promtool(...args: string[]): { status: number | null; output: string } {
  const run = spawnSync(promtoolPath(), args, { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}${run.error ? String(run.error) : ''}` };
}

describe('alert rules', () => {
  it('cover every failure the issue names', () => {
    expect(alerts).toEqual([
      'IdgateDependencyDown',
      'IdgateDependencyFaults',
      'IdgateDiditErrors',
      'IdgateDenyRateSpike',
      'IdgateDecisionLatencyHigh',
      'IdgateWebhookSignatureFailures',
      'IdgateReconcileBacklog',
      'IdgateStepUpFunnelDrop',
      'IdgateJwksStale',
      'IdgateTenantPolicyFailed',
      'IdgateTenantPolicyStale',
    ]);
    for (const group of groups) {
      for (const rule of group.rules) {
        expect(rule.labels?.severity, rule.alert).toMatch(/^(critical|warning)$/);
        expect(rule.annotations?.summary, rule.alert).toBeTruthy();
        expect(rule.annotations?.description, rule.alert).toBeTruthy();
      }
    }
  });

  it('pass `promtool check rules`', () => {
    const run = promtool('check', 'rules', RULES);
    expect(run.output).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(run.status).toBe(0);
  });

  it('pass `promtool test rules`, with a firing and a silent evaluation for every alert', () => {
    const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as {
      rule_files: string[];
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    expect(tests.rule_files).toEqual(['prometheus-rules.yaml']);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    expect(cases).toHaveLength(22); // the count docs/security.md quotes
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${alert} fires in a test`).toBe(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert} stays silent in a test`).toBe(true);
    }
    const run = promtool('test', 'rules', RULE_TESTS);
    expect(run.output).toContain('SUCCESS');
    expect(run.status).toBe(0);
  });

  it('fail `promtool test rules` when an alert stops firing (the tests can fail)', () => {
    // The same tests against a rules file whose store alert can never fire: promtool must report it.
    const broken = readFileSync(RULES, 'utf8').replace('min by (dependency) (idgate_dependency_up) == 0', 'min by (dependency) (idgate_dependency_up) == 2');
    expect(broken).not.toBe(readFileSync(RULES, 'utf8'));
    let run: { status: number | null; output: string };
    const dir = mkdtempSync(join(tmpdir(), 'idgate-rules-'));
    try {
      copyFileSync(RULE_TESTS, join(dir, 'prometheus-rules.test.yaml'));
      writeFileSync(join(dir, 'prometheus-rules.yaml'), broken);
      run = promtool('test', 'rules', join(dir, 'prometheus-rules.test.yaml'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(run.status).not.toBe(0);
    expect(run.output).toContain('IdgateDependencyDown');
  });

  it('ship the same groups as a PrometheusRule for the Prometheus Operator', () => {
    const doc = parse(readFileSync(OPERATOR_RULE, 'utf8')) as { kind: string; spec: { groups: RuleGroup[] } };
    expect(doc.kind).toBe('PrometheusRule');
    expect(doc.spec.groups).toEqual(groups);
    const kustomization = parse(readFileSync('k8s/overlays/istio/kustomization.yaml', 'utf8')) as { resources: string[] };
    expect(kustomization.resources).toContain('prometheusrule.yaml');
  });
});

describe('metrics named by the rules and the dashboard', () => {
  it('are all registered by idgate (no typo that would only show as an empty panel)', async () => {
    const registered = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const exprs = [...ruleExpressions(groups), ...dashboardExpressions(JSON.parse(readFileSync(DASHBOARD, 'utf8')) as unknown).map((e) => e.expr)];
    const named = new Set(exprs.flatMap((e) => e.match(/\bidgate_[a-z_]+/g) ?? []).map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    expect(named.size).toBeGreaterThan(10);
    expect(dashboardExpressions(JSON.parse(readFileSync(DASHBOARD, 'utf8')) as unknown)).toHaveLength(22); // quoted in docs/security.md
    for (const name of named) expect(registered, name).toContain(name);
  });
});
