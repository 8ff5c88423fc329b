import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildRegistry } from './h2load.js';

/** A redis-server the harness started. */
export interface RedisProcess {
  readonly url: string;
  readonly pid: number;
  /** SIGTERM (SIGKILL after 3 s) and remove its directory. Idempotent. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

/**
 * Starts `/usr/bin/redis-server` on 127.0.0.1 with persistence off (the bench measures idgate's reads,
 * not fsync), pinned with `taskset -c <cpus>` when given, and waits for PING (at most 10 s).
 * @throws Error when it does not answer in time.
 */
export async function startRedis(options: { cpus?: string; children?: ChildRegistry; tempRoot?: string } = {}): Promise<RedisProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(options.tempRoot ?? tmpdir(), 'idgate-bench-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', ''];
  const [cmd, argv] = options.cpus !== undefined ? ['taskset', ['-c', options.cpus, '/usr/bin/redis-server', ...args]] : ['/usr/bin/redis-server', args];
  const child = spawn(cmd, argv, { stdio: 'ignore' });
  options.children?.add(child);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      options.children?.delete(child);
      rmSync(dir, { recursive: true, force: true });
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exit;
    clearTimeout(timer);
  };
  for (let attempt = 0; attempt < 100; attempt += 1) {
    if (exited) break;
    if (await ping(port)) return { url: `redis://127.0.0.1:${port}`, pid: child.pid ?? 0, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error('redis-server did not answer PING within 10 s');
}
