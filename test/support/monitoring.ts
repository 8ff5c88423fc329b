import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './redis-server.js';

/** One group of a Prometheus rules file. */
export interface RuleGroup {
  readonly name: string;
  readonly rules: {
    readonly alert: string;
    readonly expr: string;
    readonly for?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  }[];
}

function findBinary(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/local/bin'])) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`${name} not found: install Debian's prometheus package (scripts/ensure-system-deps.sh test does)`);
}

/** Path of `promtool` (Debian package `prometheus`). */
export const promtoolPath = (): string => findBinary('promtool');

/** Every alert expression of the rules groups. */
export function ruleExpressions(groups: readonly RuleGroup[]): string[] {
  return groups.flatMap((g) => g.rules.map((r) => r.expr));
}

/** One query of a Grafana dashboard panel. */
export interface DashboardExpression {
  readonly panel: string;
  readonly legend: string;
  readonly expr: string;
}

/** Every Prometheus query of a Grafana dashboard's panels (rows included), as written. */
export function dashboardExpressions(dashboard: unknown): DashboardExpression[] {
  const out: DashboardExpression[] = [];
  const visit = (panels: unknown): void => {
    if (!Array.isArray(panels)) return;
    for (const p of panels as { title?: string; targets?: { expr?: string; legendFormat?: string }[]; panels?: unknown }[]) {
      for (const t of p.targets ?? []) {
        if (typeof t.expr === 'string') out.push({ panel: p.title ?? '', legend: t.legendFormat ?? '', expr: t.expr });
      }
      visit(p.panels);
    }
  };
  visit((dashboard as { panels?: unknown }).panels);
  return out;
}

/**
 * A dashboard query as Grafana would send it: its variables replaced (`$route` = All, `$__rate_interval`
 * and `$__range` by the given windows).
 */
export function expandGrafanaVariables(expr: string, windows: { rateInterval: string; range: string }): string {
  return expr
    .replaceAll('$__rate_interval', windows.rateInterval)
    .replaceAll('$__range', windows.range)
    .replaceAll('$route', '.*');
}

/** A Prometheus server spawned by a test, on 127.0.0.1 with its own config and data dir. */
export interface PrometheusHandle {
  readonly url: string;
  /** GET `/api/v1/<path>`; resolves with the parsed body whatever its status. */
  api(path: string, params?: Record<string, string>): Promise<{ status: string; data?: unknown; error?: string; errorType?: string }>;
  output(): string;
  close(): Promise<void>;
}

/**
 * Spawns `prometheus` scraping `targets` (host:port, path /metrics) every `scrapeInterval` and evaluating
 * `ruleFiles` (absolute paths) as often. Waits until `/-/ready` answers (bounded by `timeoutMs`).
 */
export async function startPrometheus(options: {
  targets: readonly string[];
  ruleFiles?: readonly string[];
  scrapeInterval?: string;
  timeoutMs?: number;
}): Promise<PrometheusHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'idgate-prometheus-'));
  const interval = options.scrapeInterval ?? '1s';
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
    rule_files: (options.ruleFiles ?? []).map((f) => resolve(f)),
    scrape_configs: [{ job_name: 'idgate', metrics_path: '/metrics', static_configs: [{ targets: options.targets }] }],
  };
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config));
  const port = await freePort();
  const child: ChildProcess = spawn(
    findBinary('prometheus'),
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--query.timeout=10s',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const chunks: string[] = [];
  child.stdout?.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      throw new Error(`prometheus exited (${child.exitCode}): ${chunks.join('')}`);
    }
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`prometheus not ready within the deadline: ${chunks.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async api(path, params = {}) {
      const res = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params).toString()}`, { signal: AbortSignal.timeout(15_000) });
      return (await res.json()) as { status: string; data?: unknown; error?: string; errorType?: string };
    },
    output: () => chunks.join(''),
    close,
  };
}
