import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './redis-server.js';

export { freePort };

/** Where Debian's package installs nginx (`make test` installs it when missing). */
export const NGINX_BIN = '/usr/sbin/nginx';

/** The shipped example, rendered by {@link renderNginxExample}. */
export const NGINX_EXAMPLE = resolve(import.meta.dirname, '../../examples/nginx/idgate.conf');

/** Ports to put into examples/nginx/idgate.conf. */
export interface NginxExamplePorts {
  /** nginx's own listener (127.0.0.1). */
  readonly listen: number;
  /** idgate HTTP authorization mode. */
  readonly authz: number;
  /** idgate public listener (callback, webhook). */
  readonly public: number;
  /** The application. */
  readonly app: number;
}

/**
 * Reads examples/nginx/idgate.conf and replaces exactly its three upstream addresses and `listen 80;` —
 * nothing else — so the tests run the file users copy.
 * @throws Error when a placeholder is missing (the example and this harness drifted apart).
 */
export function renderNginxExample(ports: NginxExamplePorts): string {
  let text = readFileSync(NGINX_EXAMPLE, 'utf8');
  const replacements: Array<[string, string]> = [
    ['server 127.0.0.1:9192;', `server 127.0.0.1:${ports.authz};`],
    ['server 127.0.0.1:8080;', `server 127.0.0.1:${ports.public};`],
    ['server 127.0.0.1:8000;', `server 127.0.0.1:${ports.app};`],
    ['\n    listen 80;\n', `\n    listen 127.0.0.1:${ports.listen};\n`],
  ];
  for (const [from, to] of replacements) {
    if (text.split(from).length !== 2) throw new Error(`${NGINX_EXAMPLE}: expected exactly one ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  return text;
}

/** A running nginx. */
export interface NginxHandle {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly dir: string;
  /** The error log so far (for failure messages). */
  errorLog(): string;
  /** Stops nginx (SIGTERM, SIGKILL after 3 s) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts nginx as a foreground single process with everything (pid, logs, temp paths) inside a fresh temp
 * directory, so it runs without root and without touching /etc/nginx. `serverConfig` is included in the
 * `http { }` block; `port` must be the port it listens on (the harness waits until it accepts connections).
 * @throws Error when nginx is not installed, the config is invalid or it does not come up in time.
 */
export async function startNginx(options: {
  serverConfig: (port: number) => string;
  /** Listen port (default: a free one; pass one from {@link freePort} when other config must name it first). */
  port?: number;
  timeoutMs?: number;
}): Promise<NginxHandle> {
  if (!existsSync(NGINX_BIN)) throw new Error(`${NGINX_BIN} not found: run scripts/ensure-system-deps.sh e2e (or make test)`);
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'idgate-nginx-'));
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub));
  writeFileSync(join(dir, 'idgate.conf'), options.serverConfig(port));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    default_type application/octet-stream;
    include ${dir}/idgate.conf;
}
`,
  );
  const errorLogPath = join(dir, 'error.log');
  const errorLog = () => (existsSync(errorLogPath) ? readFileSync(errorLogPath, 'utf8') : '');
  const child: ChildProcess = spawn(NGINX_BIN, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', errorLogPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  let exited = false;
  const exit = new Promise<void>((res) => child.once('exit', () => {
    exited = true;
    res();
  }));

  let stopped: Promise<void> | undefined;
  const handle: NginxHandle = {
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    errorLog,
    stop() {
      stopped ??= (async () => {
        if (!exited) {
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
          await exit;
          clearTimeout(t);
        }
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };

  const deadline = Date.now() + (options.timeoutMs ?? 5_000);
  // nginx writes its pid file only after binding its listeners: a connection accepted before that (or with
  // another pid) belongs to whoever else took the port between freePort() and our bind.
  const pidFile = join(dir, 'nginx.pid');
  const ours = (): boolean => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(child.pid);
  while (!(ours() && (await accepts(port)))) {
    if (exited || Date.now() > deadline) {
      const log = `${output}\n${errorLog()}`;
      await handle.stop();
      throw new Error(`nginx did not start on port ${port}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return handle;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
