import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { parseH2loadLog, summarizeLatencies, type H2loadLog, type LatencySummary } from './percentiles.js';

/** The gRPC method every benchmark request calls. */
export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/** Options of {@link runH2load}. */
export interface H2loadOptions {
  readonly port: number;
  /** File holding one framed CheckRequest (`-d`); h2load sends it as the body of every POST. */
  readonly bodyFile: string;
  /** Per-request log (`--log-file`), parsed for latencies. */
  readonly logFile: string;
  /** Connections (`-c`). */
  readonly clients: number;
  /** Max concurrent streams per connection (`-m`). */
  readonly streams: number;
  /** Total requests (`-n`). */
  readonly requests: number;
  /** Requests per second per connection (`--rps`); undefined = as fast as possible. */
  readonly rpsPerClient?: number;
  /** CPU list for `taskset -c` (e.g. `1`); undefined = not pinned. */
  readonly cpus?: string;
  /** The whole run is killed after this long (default 120 s). */
  readonly timeoutMs?: number;
  /** A `grpc-timeout` header on every request (e.g. `200m`, as Envoy's ext_authz filter sends); default none. */
  readonly grpcTimeout?: string;
}

/** What one h2load run measured. */
export interface H2loadResult {
  /** The command line, for the report. */
  readonly command: string;
  /** h2load's own throughput figure (`finished in …, X req/s`). */
  readonly reqPerSec: number;
  readonly summary: H2loadSummary;
  readonly log: H2loadLog;
  /** Latencies (µs) of every stream that got a response. */
  readonly latency: LatencySummary;
}

/** The counters h2load prints at the end of a run. */
export interface H2loadSummary {
  readonly seconds: number;
  readonly reqPerSec: number;
  readonly total: number;
  readonly done: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status2xx: number;
}

/** The h2load argument list for `options` (without the taskset prefix). */
export function h2loadArgs(options: H2loadOptions): string[] {
  const args = [
    '-c', String(options.clients),
    '-m', String(options.streams),
    '-n', String(options.requests),
    '-t', '1',
    '-H', 'content-type: application/grpc',
    '-H', 'te: trailers',
    '-d', options.bodyFile,
    `--log-file=${options.logFile}`,
  ];
  if (options.grpcTimeout !== undefined) args.push('-H', `grpc-timeout: ${options.grpcTimeout}`);
  if (options.rpsPerClient !== undefined) args.push(`--rps=${options.rpsPerClient}`);
  args.push(`http://127.0.0.1:${options.port}${CHECK_PATH}`);
  return args;
}

/**
 * Reads h2load's closing summary (nghttp2 1.52 wording: `finished in 1.23s, 8130.08 req/s, …`,
 * `requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout`,
 * `status codes: N 2xx, …`).
 * @throws Error quoting the output when a line is missing.
 */
export function parseH2loadSummary(stdout: string): H2loadSummary {
  const finished = /finished in ([\d.]+)(ms|s|us), ([\d.]+) req\/s/.exec(stdout);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
  const status = /status codes: (\d+) 2xx/.exec(stdout);
  if (finished === null || requests === null || status === null) {
    throw new Error(`unexpected h2load output:\n${stdout.slice(-2000)}`);
  }
  const unit = finished[2] === 'ms' ? 1e-3 : finished[2] === 'us' ? 1e-6 : 1;
  const n = (m: RegExpExecArray, i: number): number => Number(m[i]);
  return {
    seconds: Number(finished[1]) * unit,
    reqPerSec: Number(finished[3]),
    total: n(requests, 1),
    done: n(requests, 3),
    succeeded: n(requests, 4),
    failed: n(requests, 5),
    errored: n(requests, 6),
    timeout: n(requests, 7),
    status2xx: n(status, 1),
  };
}

/** Child processes still running, so the harness can kill them on SIGINT. */
export type ChildRegistry = Set<{ kill(signal?: NodeJS.Signals): boolean }>;

/**
 * Runs h2load (pinned with `taskset -c <cpus>` when asked), waits for it, and parses its summary and log.
 * @throws Error when h2load exits non-zero, times out, or its output cannot be parsed.
 */
export async function runH2load(options: H2loadOptions, children?: ChildRegistry): Promise<H2loadResult> {
  const args = h2loadArgs(options);
  const [cmd, argv] = options.cpus !== undefined ? ['taskset', ['-c', options.cpus, 'h2load', ...args]] : ['h2load', args];
  const command = [cmd, ...argv].map((a) => (/[\s:;']/.test(a) ? `'${a}'` : a)).join(' ');
  // h2load opens --log-file for appending (nghttp2 1.52), so a stale log would be counted again.
  await rm(options.logFile, { force: true });
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    children?.add(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (out.length < 1_000_000) out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 100_000) err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      children?.delete(child);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      children?.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`h2load exited with ${code ?? signal}: ${err.slice(-1000)}${out.slice(-1000)}`));
    });
  });
  const summary = parseH2loadSummary(stdout);
  const log = parseH2loadLog(await readFile(options.logFile, 'utf8'));
  return { command, reqPerSec: summary.reqPerSec, summary, log, latency: summarizeLatencies(log.latenciesUs) };
}
