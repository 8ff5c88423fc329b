import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';
import type { ChildRegistry } from './h2load.js';

/**
 * The servers the harness can measure. `noop` is the proto-loader ceiling; `floor` the transport floor
 * (grpc-js with pass-through (de)serializers and fixed reply bytes); `bound` the lower bound of a cached
 * allow (bound-server.ts: the floor's server plus idgate's codec, a token-hash LRU and idgate's cached
 * answer, with `boundStages` of idgate's further work added); `standin` is idgate's gRPC front end
 * with JWT verification only (for developing the harness); `idgate-h2` is idgate with
 * `server.grpc.transport: http2` (the node:http2 Check transport), otherwise the same config; `h2floor` is that
 * transport's floor (node:http2 alone answering fixed reply bytes, `h2-floor-server.ts`).
 */
export type TargetName = 'noop' | 'floor' | 'h2floor' | 'bound' | 'standin' | 'idgate' | 'idgate-h2';

/** What a target needs to know to start. */
export interface LaunchContext {
  /** idgate YAML for this scenario (written to a temp file for the `idgate` target). */
  readonly configYaml: string;
  readonly issuer: string;
  readonly jwksUri: string;
  readonly audience: string;
  /** Extra CLI arguments of the scenario (e.g. `--workers 2`); only idgate takes them. */
  readonly extraArgs: readonly string[];
  /**
   * The idgate command: `authz` (the authorization container of a deployment) unless the scenario needs the
   * embedded Didit sandbox, which only `serve` starts; `webhook` (no gRPC listener) for the memory report.
   */
  readonly command?: 'serve' | 'authz' | 'webhook';
  /** The `bound` target's added stages (bound-server.ts `BOUND_STAGES`); none = the bare bound. */
  readonly boundStages?: readonly string[];
}

/**
 * The node flags the image's ENTRYPOINT and `make run` use (keep in sync with Dockerfile and Makefile):
 * an 8 MiB young-generation semi-space. With jemalloc (below) it is what brings the `authz` role under 128 MiB
 * at 1,000 Checks/s (bench/README.md, "Allocator and young generation, ninth round"); 16 MiB measured ~34 MiB
 * less than 32 on Node 24 ("Memory, fourth round"), and 8 another ~10–13 MiB less.
 * And a fixed old-generation growing factor of 1.5 (`--heap-growing-percent=50`): V8's own factor moves with
 * the heap limit and falls to 1.1 after a memory-reducing GC (bench/README.md, "GC sizing, sixth round"),
 * while a large one lets RSS climb between mark-compacts for a minute or more at 1,000/s: 300 (a factor of
 * 4, the sixth to tenth rounds) peaked at 166 MiB in a 120 s soak, 50 held 110–114 MiB for ~8 % more CPU per
 * saturated Check (bench/README.md, "Old-generation growth, eleventh round").
 */
export const NODE_RUNTIME_FLAGS: readonly string[] = (process.env.IDGATE_BENCH_RUNTIME_FLAGS ?? '--max-semi-space-size=8 --heap-growing-percent=50')
  .split(' ')
  .filter(Boolean);

/**
 * The node flags of the baselines (`noop`, `floor`, `h2floor`) when no flag set is given: the image's young
 * generation with the old generation's 4× growth the image used until the eleventh round. The grpc-js floor
 * promotes ~1.2 MB per scavenge, so 1.5× growth cost it a fifth more CPU per saturated Check (63.3 against
 * 52.8 µs, 26 mark-compacts per 40,000 Checks instead of 7; Node's defaults 60.8 µs at 267 MiB): a ceiling
 * run under idgate's memory trade would flatter idgate's ratio (bench/README.md, "Old-generation growth,
 * eleventh round"). A flag set (`IDGATE_BENCH_RUNTIME_FLAGS`, `--flag-sets`, `--runtime-flags-matrix`) still
 * applies to every target alike.
 */
export const BASELINE_RUNTIME_FLAGS: readonly string[] = (process.env.IDGATE_BENCH_RUNTIME_FLAGS ?? '--max-semi-space-size=8 --heap-growing-percent=300')
  .split(' ')
  .filter(Boolean);

/** The targets that are baselines, not idgate: they run with {@link BASELINE_RUNTIME_FLAGS}. */
export const BASELINE_TARGETS: ReadonlySet<TargetName> = new Set<TargetName>(['noop', 'floor', 'h2floor']);

/** What a harness imports from another build's `bench/targets.js` to start that build's targets (A/B between builds). */
export interface BuildTargets {
  readonly startTarget: typeof startTarget;
  readonly NODE_RUNTIME_FLAGS: readonly string[];
  /** Absent in builds before the eleventh round, which ran every target with NODE_RUNTIME_FLAGS. */
  readonly runtimeFlagsOf?: (name: TargetName) => readonly string[];
}

/** The node flags (and `NAME=value` environment) a target runs with when no flag set is given. */
export function runtimeFlagsOf(name: TargetName): readonly string[] {
  return BASELINE_TARGETS.has(name) ? BASELINE_RUNTIME_FLAGS : NODE_RUNTIME_FLAGS;
}

/**
 * jemalloc's settings in the image (`MALLOC_CONF`): 2 arenas, and a background thread that returns pages
 * freed for 1 s to the kernel. Against glibc's malloc (2 arenas) it measured 5–7 MiB less RSS at 1,000
 * Checks/s (bench/README.md, "Allocator and young generation, ninth round").
 */
export const JEMALLOC_CONF = 'narenas:2,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0';

/** Where the image links jemalloc (Debian's `libjemalloc2`, whatever the architecture's directory). */
export const IMAGE_JEMALLOC = '/usr/local/lib/libjemalloc.so.2';

/** What the image's `ENV` sets for node (keep in sync with the Dockerfile). */
export const IMAGE_RUNTIME_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', LD_PRELOAD: IMAGE_JEMALLOC, MALLOC_CONF: JEMALLOC_CONF };

/** jemalloc on this machine: the image's link, else Debian's or Ubuntu's own path for libjemalloc2. */
export function findJemalloc(): string | undefined {
  return [IMAGE_JEMALLOC, '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2'].find((p) => existsSync(p));
}

/**
 * The environment every bench target runs with: the image's (keep in sync with the Dockerfile's `ENV` and the
 * Makefile's `run`) — jemalloc preloaded when this machine has it (`IDGATE_BENCH_MALLOC=glibc` leaves it
 * out, for a comparison; the report says which), and glibc's malloc limited to 2 arenas for a process
 * without it (6–10 MiB less RSS at 1,000 Checks/s than glibc's 8 per core, "Memory, fourth round";
 * `IDGATE_BENCH_MALLOC_ARENA_MAX` overrides it, empty = glibc's default).
 */
const mallocArenaMax = process.env.IDGATE_BENCH_MALLOC_ARENA_MAX ?? '2';
const jemalloc = process.env.IDGATE_BENCH_MALLOC === 'glibc' ? undefined : findJemalloc();
export const NODE_RUNTIME_ENV: Readonly<Record<string, string>> = {
  ...(mallocArenaMax === '' ? {} : { MALLOC_ARENA_MAX: mallocArenaMax }),
  ...(jemalloc !== undefined ? { LD_PRELOAD: jemalloc, MALLOC_CONF: JEMALLOC_CONF } : {}),
};

/** A `NAME=value` token among the runtime flags: an environment variable for the target, not a node flag. */
const ENV_ASSIGNMENT = /^([A-Z][A-Z0-9_]*)=(.*)$/s;

/**
 * Splits a runtime flag set (`IDGATE_BENCH_RUNTIME_FLAGS`, a `--flag-sets` / `--runtime-flags-matrix` set) into
 * node flags and environment variables, so a set can compare what the image sets in `ENV` as well as its
 * node flags (e.g. `--max-semi-space-size=8 LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2`).
 */
export function splitRuntimeSettings(tokens: readonly string[]): { flags: string[]; env: Record<string, string> } {
  const flags: string[] = [];
  const env: Record<string, string> = {};
  for (const token of tokens) {
    const m = ENV_ASSIGNMENT.exec(token);
    if (m !== null) env[m[1] as string] = m[2] as string;
    else flags.push(token);
  }
  return { flags, env };
}

/**
 * `dist/`: the parent of this module's directory when it runs compiled (`dist/bench/targets.js`), else the
 * repository's `dist/` (the tests import `bench/targets.ts` from source; the targets are always compiled).
 */
const DIST_ROOT = ((): string => {
  const parent = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  return basename(parent) === 'dist' ? parent : join(parent, 'dist');
})();

/**
 * The idgate CLI of the build in `dist`: the bundle (`idgate/cli.js`), which is what ships and what the image
 * runs. A build without one — tsc's output alone, as in a copy made before the bundle existed, or with its
 * `idgate/` removed for a "tsc output vs bundle" A/B (bench/README.md, "Bundled build (fifth round)") — runs
 * tsc's `src/cli.js`.
 */
export function idgateCli(dist: string = DIST_ROOT): string {
  const bundled = join(dist, 'idgate', 'cli.js');
  return existsSync(bundled) ? bundled : join(dist, 'src', 'cli.js');
}

/**
 * How each target is started: the arguments after `node`. Adding a target is one line here; every target
 * prints JSON log lines `{"msg":"listening","role":"grpc","port":N}` and `{"msg":"ready"}` on stdout/stderr.
 */
export const TARGETS: Readonly<Record<TargetName, (ctx: LaunchContext, configFile: string) => string[]>> = {
  noop: () => [join(DIST_ROOT, 'bench', 'noop-server.js'), '--port', '0'],
  floor: () => [join(DIST_ROOT, 'bench', 'floor-server.js'), '--port', '0'],
  h2floor: () => [join(DIST_ROOT, 'bench', 'h2-floor-server.js'), '--port', '0'],
  bound: (ctx, configFile) => [join(DIST_ROOT, 'bench', 'bound-server.js'), '--port', '0', '--config', configFile, '--stages', (ctx.boundStages ?? []).join(',')],
  standin: (ctx) => [join(DIST_ROOT, 'bench', 'stand-in-server.js'), '--port', '0', '--issuer', ctx.issuer, '--jwks-uri', ctx.jwksUri, '--audience', ctx.audience],
  idgate: (ctx, configFile) => [idgateCli(), ctx.command ?? 'serve', '--config', configFile, ...ctx.extraArgs],
  'idgate-h2': (ctx, configFile) => TARGETS.idgate(ctx, configFile),
};

/** The scenario's idgate YAML as `name` runs it: `idgate-h2` switches the gRPC listener to node:http2. */
export function targetConfigYaml(name: TargetName, configYaml: string): string {
  if (name !== 'idgate-h2') return configYaml;
  const config = parse(configYaml) as { server?: { grpc?: Record<string, unknown> } };
  const server = (config.server ??= {});
  server.grpc = { ...server.grpc, transport: 'http2' };
  return stringify(config);
}

/**
 * Node flags that load the bench's GC probe (`gc-probe.ts`) into a target: `--expose-gc` plus the probe as
 * an `--import` preload, so idgate's heap after a forced GC can be read without touching `src/`.
 */
export const MEMORY_PROBE_FLAGS: readonly string[] = ['--expose-gc', '--import', pathToFileURL(join(DIST_ROOT, 'bench', 'gc-probe.js')).href];

/** A started target process. */
export interface RunningTarget {
  readonly name: TargetName;
  readonly pid: number;
  /** 0 when the target was started with `grpc: false` (e.g. `idgate webhook`, which has no gRPC listener). */
  readonly grpcPort: number;
  /** The admin port (idgate only): `/metrics` carries idgate's own per-decision time. */
  readonly adminPort?: number;
  /** The last lines it printed (for error messages). */
  output(): string;
  /** Calls `listener` with every later line the target prints (stdout and stderr); returns the unsubscribe. */
  onLine(listener: (line: string) => void): () => void;
  /** SIGTERM, SIGKILL after 3 s; removes the temp config. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a target with `node` (under `taskset -c <cpus>` when given — taskset execs node, so the pid is the
 * server's) and waits for its `ready` line; the config goes to a temp dir under `tempRoot` (default the OS's) (bounded by `timeoutMs`, default 30 s).
 * @throws Error with the process's last output when it exits or is not ready in time.
 */
export async function startTarget(
  name: TargetName,
  ctx: LaunchContext,
  options: {
    cpus?: string;
    timeoutMs?: number;
    children?: ChildRegistry;
    tempRoot?: string;
    /** Node flags instead of {@link NODE_RUNTIME_FLAGS} (the runtime-flags matrix); `NAME=value` tokens are environment variables. */
    runtimeFlags?: readonly string[];
    /** Load the GC probe ({@link MEMORY_PROBE_FLAGS}). */
    memoryProbe?: boolean;
    /** Wait for a gRPC `listening` line (default true); false for roles without a gRPC listener. */
    grpc?: boolean;
  },
): Promise<RunningTarget> {
  const dir = mkdtempSync(join(options.tempRoot ?? tmpdir(), 'idgate-bench-'));
  const configFile = join(dir, 'idgate.yaml');
  writeFileSync(configFile, targetConfigYaml(name, ctx.configYaml));
  // IDGATE_BENCH_NODE_FLAGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) profiles the idgate target.
  const profileFlags = name === 'idgate' || name === 'idgate-h2' || name === 'h2floor' ? (process.env.IDGATE_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean) : [];
  // idgate's targets run with the node flags of the production image (NODE_RUNTIME_FLAGS); the baselines with
  // the image's young generation but the faster old-generation growth (BASELINE_RUNTIME_FLAGS), so idgate's
  // memory trade is not charged to its ceiling. The environment (jemalloc) is the same for all.
  const probeFlags = options.memoryProbe === true ? MEMORY_PROBE_FLAGS : [];
  const runtime = splitRuntimeSettings(options.runtimeFlags ?? runtimeFlagsOf(name));
  const nodeArgs = [...runtime.flags, ...probeFlags, ...profileFlags, ...TARGETS[name](ctx, configFile)];
  const [cmd, argv] = options.cpus !== undefined
    ? ['taskset', ['-c', options.cpus, process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const child: ChildProcess = spawn(cmd, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...NODE_RUNTIME_ENV, ...runtime.env, NODE_ENV: 'production' },
  });
  options.children?.add(child);
  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  let grpcPort: number | undefined;
  let adminPort: number | undefined;
  let exited = false;
  let ready = false;
  const exit = new Promise<void>((res) => {
    child.once('exit', () => {
      exited = true;
      options.children?.delete(child);
      rmSync(dir, { recursive: true, force: true });
      res();
    });
  });
  const readyLine = new Promise<void>((res, rej) => {
    const onLine = (line: string): void => {
      if (lines.length >= 200) lines.shift();
      lines.push(line);
      for (const listener of listeners) listener(line);
      // Parse only until ready (and, with --workers, until a worker's gRPC port, which may come after the
      // primary's ready) and only candidate lines: a step-up run logs thousands of lines a second.
      if ((ready && grpcPort !== undefined) || !(line.includes('"listening"') || line.includes('"ready"'))) return;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (parsed['msg'] === 'listening' && parsed['role'] === 'grpc' && typeof parsed['port'] === 'number') grpcPort = parsed['port'];
      if (parsed['msg'] === 'listening' && parsed['role'] === 'admin' && typeof parsed['port'] === 'number') adminPort = parsed['port'];
      if (parsed['msg'] === 'ready') {
        ready = true;
        res();
      }
    };
    if (child.stdout !== null) createInterface({ input: child.stdout }).on('line', onLine);
    if (child.stderr !== null) createInterface({ input: child.stderr }).on('line', onLine);
    void exit.then(() => rej(new Error(`${name} exited before it was ready:\n${lines.slice(-30).join('\n')}`)));
  });
  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exit;
    clearTimeout(timer);
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      readyLine,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`${name} not ready within ${options.timeoutMs ?? 30_000} ms:\n${lines.slice(-30).join('\n')}`)), options.timeoutMs ?? 30_000);
      }),
    ]);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  // With `--workers N` the worker processes log their own `listening` lines and the primary logs `ready`
  // once they have reported: a worker's line (written at the end of its turn) can reach the pipe just after
  // the primary's, so it is given a moment before the target counts as broken.
  for (let waited = 0; grpcPort === undefined && options.grpc !== false && !exited && waited < 2_000; waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
  }
  if ((grpcPort === undefined && options.grpc !== false) || child.pid === undefined) {
    await stop();
    throw new Error(`${name} said ready but never logged its gRPC port:\n${lines.slice(-30).join('\n')}`);
  }
  return {
    name,
    pid: child.pid,
    grpcPort: grpcPort ?? 0,
    ...(adminPort !== undefined ? { adminPort } : {}),
    output: () => lines.join('\n'),
    onLine: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop,
  };
}
