import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** The ports an idgate process reported in its `listening` log lines, by role. */
export interface IdgatePorts {
  grpc?: number;
  http?: number;
  public?: number;
  admin?: number;
  sandbox?: number;
  demoIssuer?: number;
}

export interface IdgateProcess {
  readonly ports: IdgatePorts;
  readonly child: ChildProcess;
  /** Every log line the process printed so far (parsed JSON when possible). */
  readonly logs: Array<Record<string, unknown>>;
  /** Raw stdout+stderr text, for failure messages and secret scans. */
  output(): string;
  /** Resolves when a log line matching the predicate appears (or rejects after timeoutMs). */
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/** The shipped CLI (the bundle scripts/bundle.mjs makes), as the image and `make run` start it. */
const CLI = resolve(import.meta.dirname, '../../dist/idgate/cli.js');

/**
 * Starts `idgate <command> --config <file>` as a separate process (the bundled CLI in dist/idgate/), with the YAML
 * written to a temp dir, and waits until it logs `ready`. Every port in the config may be 0: the process
 * logs the bound ports (`{"msg":"listening","role":…,"port":…}`), which are collected in `ports`.
 * With `configPath`, that existing file is used instead (`configYaml` is ignored; the caller owns the file).
 */
export async function startIdgate(options: {
  configYaml: string;
  configPath?: string;
  command?: 'serve' | 'authz' | 'webhook';
  env?: Record<string, string>;
  args?: string[];
  timeoutMs?: number;
}): Promise<IdgateProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'idgate-test-'));
  let configPath = options.configPath;
  if (configPath === undefined) {
    configPath = join(dir, 'idgate.yaml');
    writeFileSync(configPath, options.configYaml);
  }
  const child = spawn(process.execPath, [CLI, options.command ?? 'serve', '--config', configPath, ...(options.args ?? [])], {
    env: { ...process.env, NODE_ENV: 'test', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const ports: IdgatePorts = {};
  const waiters = new Set<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }>();

  const onLine = (line: string) => {
    raw.push(line);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      parsed = { msg: line };
    }
    logs.push(parsed);
    if (parsed.msg === 'listening' && typeof parsed.role === 'string' && typeof parsed.port === 'number') {
      (ports as Record<string, number>)[parsed.role] = parsed.port;
    }
    for (const w of waiters) {
      if (w.pred(parsed)) {
        waiters.delete(w);
        w.resolve(parsed);
      }
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);

  let exited: number | null | undefined;
  const exitPromise = new Promise<number | null>((res) => {
    child.on('exit', (code) => {
      exited = code;
      rmSync(dir, { recursive: true, force: true });
      res(code);
    });
  });

  const proc: IdgateProcess = {
    ports,
    child,
    logs,
    output: () => raw.join('\n'),
    waitForLog(pred, timeoutMs = 10_000) {
      const found = logs.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((res, rej) => {
        const w = { pred, resolve: res };
        waiters.add(w);
        const t = setTimeout(() => {
          waiters.delete(w);
          rej(new Error(`timed out waiting for a log line; output so far:\n${raw.slice(-40).join('\n')}`));
        }, timeoutMs);
        t.unref();
        void exitPromise.then((code) => {
          if (waiters.has(w)) {
            waiters.delete(w);
            clearTimeout(t);
            rej(new Error(`idgate exited with ${code}; output:\n${raw.slice(-40).join('\n')}`));
          }
        });
      });
    },
    async stop(graceMs = 5_000) {
      if (exited !== undefined) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exitPromise;
      clearTimeout(t);
      return code;
    },
  };
  await proc.waitForLog((l) => l.msg === 'ready', options.timeoutMs ?? 15_000);
  return proc;
}
