import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';
const HOST = '127.0.0.1';

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /** TCP port; 0 or omitted = a free port picked now (kept across restart). */
  readonly port?: number;
  /** Append-only file on (default false). */
  readonly appendonly?: boolean;
  /** Extra `redis-server` arguments, e.g. `['--cluster-enabled', 'yes']`. */
  readonly args?: readonly string[];
  /** How long to wait for PING to answer (default 10 s). */
  readonly startTimeoutMs?: number;
}

/** A running local redis-server for one test file. */
export interface RedisServerHandle {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Its working directory (AOF, nodes.conf); removed by {@link close}. */
  readonly dir: string;
  /** Graceful shutdown (SIGTERM; the AOF is flushed); data stays for {@link restart}. */
  stop(): Promise<void>;
  /** SIGKILL, like a crashed node; data written since the last fsync may be lost. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and directory (stopping it first if it runs). */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. Idempotent. */
  close(): Promise<void>;
}

/**
 * Binds port 0 to learn a port that is free NOW. Test files run in parallel, so another process may take
 * it before the caller binds it: callers that spawn a server on it must confirm that THEIR process owns
 * the port and retry with a new one on `EADDRINUSE` (as {@link startRedis} does). `below` keeps room for
 * the cluster bus port (port + 10000).
 */
export async function freePort(below = 65_536): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, HOST, () => {
        const addr = srv.address();
        srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
      });
    });
    if (port > 0 && port < below) return port;
  }
  throw new Error('no free port found');
}

/**
 * `count` ports that are free NOW and all different: every listener is held open until all are bound, so
 * two calls of {@link freePort} in a row cannot hand out the same port (the kernel may reuse a port just
 * closed). Same caveat as freePort: another process may still take one before the caller binds it.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (srv) =>
          new Promise<number>((resolve, reject) => {
            srv.once('error', reject);
            srv.listen(0, HOST, () => {
              const addr = srv.address();
              resolve(typeof addr === 'object' && addr ? addr.port : 0);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((srv) => new Promise<void>((resolve) => (srv.listening ? srv.close(() => resolve()) : resolve()))));
  }
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

/** Sends one inline command and resolves with the first reply line, or undefined if nothing answered. */
function rawCommand(port: number, command: string, timeoutMs = 500): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    let data = '';
    const done = (value: string | undefined): void => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once('error', () => done(undefined));
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8');
      const end = data.indexOf('\r\n');
      if (end >= 0) done(data.slice(0, end));
    });
  });
}

/** Sends one inline command and resolves with its whole bulk-string reply, or undefined. */
function rawBulk(port: number, command: string, timeoutMs = 500): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    let data = Buffer.alloc(0);
    const done = (value: string | undefined): void => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once('error', () => done(undefined));
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n');
      if (end < 0) return;
      const head = data.subarray(0, end).toString('latin1');
      if (!head.startsWith('$')) return done(undefined);
      const length = Number(head.slice(1));
      if (data.length >= end + 2 + length) done(data.subarray(end + 2, end + 2 + length).toString('utf8'));
    });
  });
}

/** Thrown when the port was taken by another process between {@link freePort} and our bind. */
class PortTakenError extends Error {}

/**
 * Waits until the server answers on `port` AND is our child (its `INFO server` process_id is the child's
 * pid): a PONG from another test file's server that grabbed the port first must not count.
 */
async function waitForPong(port: number, child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      const text = stderr();
      if (/address already in use/i.test(text)) throw new PortTakenError(`port ${port} taken: ${text}`);
      throw new Error(`redis-server exited (${child.exitCode}): ${text}`);
    }
    if ((await rawCommand(port, 'PING')) === '+PONG') {
      const pid = /process_id:(\d+)/.exec((await rawBulk(port, 'INFO server')) ?? '')?.[1];
      if (pid !== undefined && Number(pid) === child.pid) return;
    }
    await sleep(20);
  }
  throw new Error(`redis-server on ${port} did not answer PING within ${timeoutMs} ms`);
}

/**
 * Resolves once every node's own clock (`TIME`) is more than `ms` past what it read when called, i.e. a
 * key given a TTL of `ms` before this call has expired by the server's reckoning. Waits on the server's
 * clock instead of guessing with a fixed sleep.
 */
export async function waitForServerClock(nodes: readonly { time(): Promise<unknown> }[], ms: number, timeoutMs = 10_000): Promise<void> {
  const micros = async (node: { time(): Promise<unknown> }): Promise<number> => {
    const [sec, usec] = (await node.time()) as [string | number, string | number];
    return Number(sec) * 1_000_000 + Number(usec);
  };
  const targets = await Promise.all(nodes.map(async (n) => (await micros(n)) + (ms + 1) * 1000));
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i] as { time(): Promise<unknown> };
    while ((await micros(node)) < (targets[i] as number)) {
      if (Date.now() > deadline) throw new Error(`redis clock did not pass ${ms} ms within ${timeoutMs} ms`);
      await sleep(Math.min(20, ms));
    }
  }
}

/**
 * Resolves when `child` has exited. A redis-server asked to stop may wait for its replicas up to its
 * `shutdown-timeout` (10 s) — longer under a loaded suite, where a failover test's teardown once outlived its
 * hook's 30 s — so after `killAfterMs` it is killed instead.
 */
function waitExit(child: ChildProcess, killAfterMs = 12_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A crashed test run must not leave redis-servers behind.
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

/**
 * Spawns `/usr/bin/redis-server` on 127.0.0.1 with a temporary directory, no RDB snapshots and AOF as
 * asked, and resolves once it answers PING.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServerHandle> {
  const fixedPort = options.port !== undefined && options.port > 0;
  let port = fixedPort ? (options.port as number) : await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'idgate-redis-'));
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  let child: ChildProcess | undefined;
  let closed = false;

  const launch = async (): Promise<void> => {
    const args = [
      '--port', String(port),
      '--bind', HOST,
      '--dir', dir,
      '--save', '',
      '--appendonly', options.appendonly ? 'yes' : 'no',
      '--daemonize', 'no',
      '--logfile', '',
      '--loglevel', 'warning',
      ...(options.args ?? []),
    ];
    let stderr = '';
    const proc = spawn(REDIS_SERVER, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString('utf8')).slice(-2000);
    });
    proc.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString('utf8')).slice(-2000);
    });
    track(proc);
    child = proc;
    await waitForPong(port, proc, timeoutMs, () => stderr);
  };

  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    proc.kill(sig);
    await waitExit(proc);
    // The port is released a moment after exit; restart must not race for it.
    const deadline = Date.now() + 5000;
    while (!(await portIsFree(port)) && Date.now() < deadline) await sleep(20);
  };

  // A port picked here may be taken by a parallel test file before redis binds it: pick another and retry.
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      if (!(err instanceof PortTakenError) || fixedPort || attempt >= 5) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      child = undefined;
      port = await freePort();
    }
  }
  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    dir,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    async restart() {
      await signal('SIGTERM');
      await launch();
    },
    async close() {
      if (closed) return;
      closed = true;
      await signal('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A running local Redis Cluster of masters only. */
export interface RedisClusterHandle {
  readonly nodes: readonly RedisServerHandle[];
  /** Seed addresses for ioredis `Cluster`. */
  readonly startup: readonly { readonly host: string; readonly port: number }[];
  /** Stops every node and removes their directories. */
  close(): Promise<void>;
}

function run(file: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * Starts `masters` (≥ 3) redis-servers with `--cluster-enabled yes`, joins them with
 * `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, and resolves once every node reports
 * `cluster_state:ok`. Ports are picked below 55536 so each bus port (port + 10000) is valid.
 */
export async function startRedisCluster(masters = 3, timeoutMs = 20_000): Promise<RedisClusterHandle> {
  if (masters < 3) throw new TypeError('a Redis Cluster needs at least 3 masters');
  const nodes: RedisServerHandle[] = [];
  const closeAll = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.close()));
  };
  try {
    for (let i = 0; i < masters; i += 1) {
      let node: RedisServerHandle | undefined;
      for (let attempt = 0; attempt < 50 && node === undefined; attempt += 1) {
        const candidate = await freePort(55_536);
        if (nodes.some((n) => n.port === candidate) || !(await portIsFree(candidate + 10_000))) continue;
        try {
          node = await startRedis({
            port: candidate,
            args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'],
          });
        } catch (err) {
          // The port (or its bus port) was taken by a parallel test file after we looked: try another.
          if (!(err instanceof PortTakenError)) throw err;
        }
      }
      if (node === undefined) throw new Error('no free port pair for a cluster node');
      nodes.push(node);
    }
    await run(
      REDIS_CLI,
      ['--cluster', 'create', ...nodes.map((n) => `${HOST}:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      timeoutMs,
    );
    const deadline = Date.now() + timeoutMs;
    for (const node of nodes) {
      for (;;) {
        const info = await run(REDIS_CLI, ['-h', HOST, '-p', String(node.port), 'cluster', 'info'], 2000);
        if (info.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`cluster node ${node.port} not ok in time`);
        await sleep(50);
      }
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  return {
    nodes,
    startup: nodes.map((n) => ({ host: n.host, port: n.port })),
    close: closeAll,
  };
}

/** A running redis-sentinel watching one master. */
export interface RedisSentinelHandle {
  readonly host: string;
  readonly port: number;
  /** The monitored master's name (`sentinel monitor <name> …`). */
  readonly masterName: string;
  /** Stops the sentinel and removes its directory. */
  close(): Promise<void>;
}

/**
 * Starts one redis-sentinel (quorum 1) monitoring the master at `masterPort` on 127.0.0.1, and resolves once
 * it reports the master's address.
 */
export async function startRedisSentinel(masterPort: number, masterName = 'idgate', timeoutMs = 10_000): Promise<RedisSentinelHandle> {
  // A port picked here may be taken by a parallel test file before the sentinel binds it: retry.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchSentinel(await freePort(), masterPort, masterName, timeoutMs);
    } catch (err) {
      if (!(err instanceof PortTakenError) || attempt >= 5) throw err;
    }
  }
}

async function launchSentinel(port: number, masterPort: number, masterName: string, timeoutMs: number): Promise<RedisSentinelHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'idgate-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  // Sentinel rewrites its config file at run time, so it must be a private writable file.
  writeFileSync(
    conf,
    [`port ${port}`, `bind ${HOST}`, `dir ${dir}`, `sentinel monitor ${masterName} ${HOST} ${masterPort} 1`, ''].join('\n'),
  );
  let output = '';
  const proc = spawn(REDIS_SERVER, [conf, '--sentinel'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const collect = (c: Buffer): void => {
    output = (output + c.toString('utf8')).slice(-2000);
  };
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  track(proc);
  const close = async (): Promise<void> => {
    proc.kill('SIGTERM');
    await waitExit(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exitCode !== null) {
        if (/address already in use/i.test(output)) throw new PortTakenError(`port ${port} taken: ${output}`);
        throw new Error(`redis-sentinel exited (${proc.exitCode}): ${output}`);
      }
      const reply = await rawCommand(port, `SENTINEL get-master-addr-by-name ${masterName}`);
      // Only our own sentinel counts, not another test file's that took the port first.
      const pid = /process_id:(\d+)/.exec((await rawBulk(port, 'INFO server')) ?? '')?.[1];
      if (reply === '*2' && pid !== undefined && Number(pid) === proc.pid) break;
      if (Date.now() > deadline) throw new Error(`redis-sentinel on ${port} not ready in time: ${output}`);
      await sleep(20);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { host: HOST, port, masterName, close };
}
