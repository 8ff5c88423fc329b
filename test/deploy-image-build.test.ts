import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * No Docker engine runs on these machines, so this test performs the Dockerfile's runtime stage by hand in
 * a temp dir: production dependencies only (`npm ci --omit=dev --ignore-scripts`, from the local npm cache
 * — no network), the built `dist/src`, `examples/` and `package.json`; then it starts the image's
 * entrypoint with `serve` and probes `/healthz` the way the HEALTHCHECK does. No `proto/`: the gRPC front end
 * builds its service definitions in code (src/extauthz/grpc-service-definitions.ts) and never reads a .proto file.
 */
const ROOT = resolve(import.meta.dirname, '..');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'idgate-image-'));
}, 10_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the image build steps, performed in a temp dir', () => {
  it('installs production dependencies only, from the lock file', () => {
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    cpSync(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
    const res = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--offline'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, npm_config_loglevel: 'error' },
    });
    expect(res.status, res.stderr).toBe(0);
    expect(existsSync(join(dir, 'node_modules', '@grpc', 'grpc-js'))).toBe(true);
    expect(existsSync(join(dir, 'node_modules', 'jose'))).toBe(true);
    // Dev-only packages stay out of the image.
    for (const dev of ['vitest', 'typescript', '@grpc/grpc-js-xds', 'fast-check', 'playwright-core']) {
      expect(existsSync(join(dir, 'node_modules', dev)), dev).toBe(false);
    }
  }, 150_000);

  it('starts the entrypoint with serve and answers the HEALTHCHECK probe', async () => {
    expect(existsSync(join(ROOT, 'dist', 'src', 'cli.js')), 'run the build first (make test does)').toBe(true);
    cpSync(join(ROOT, 'dist', 'src'), join(dir, 'dist', 'src'), { recursive: true });
    cpSync(join(ROOT, 'examples'), join(dir, 'examples'), { recursive: true });
    mkdirSync(join(dir, 'etc'), { recursive: true });
    // Every port 0, the embedded Didit sandbox's included (its default is 8099, which the shipped examples
    // bind in other suites), so the test never collides with another suite.
    const config = `
server:
  grpc: { host: 127.0.0.1, port: 0 }
  httpAuthz: { host: 127.0.0.1, port: 0 }
  public: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
didit: { mode: sandbox, sandboxPort: 0 }
issuers:
  - { name: demo, issuer: "http://127.0.0.1:1", audiences: [x], jwksUri: "http://127.0.0.1:1/jwks", algorithms: [ES256] }
policy:
  routes:
    - { id: health, match: { path: /healthz }, public: true }
`;
    writeFileSync(join(dir, 'etc', 'idgate.yaml'), config);
    const child = spawn(process.execPath, [join(dir, 'dist', 'src', 'cli.js'), 'serve', '--config', join(dir, 'etc', 'idgate.yaml')], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let admin: number | undefined;
    const ready = new Promise<void>((resolveReady, reject) => {
      const onLine = (line: string) => {
        lines.push(line);
        try {
          const l = JSON.parse(line) as { msg?: string; role?: string; port?: number };
          if (l.msg === 'listening' && l.role === 'admin') admin = l.port;
          if (l.msg === 'ready') resolveReady();
        } catch {
          // not JSON: kept for the failure message
        }
      };
      createInterface({ input: child.stdout! }).on('line', onLine);
      createInterface({ input: child.stderr! }).on('line', onLine);
      child.once('exit', (code) => reject(new Error(`exited ${code}:\n${lines.join('\n')}`)));
    });
    try {
      await ready;
      expect(admin).toBeGreaterThan(0);
      // The HEALTHCHECK command of the Dockerfile, verbatim in spirit: fetch /healthz with a 2 s timeout.
      const probe = spawnSync(
        process.execPath,
        ['-e', `fetch('http://127.0.0.1:${admin}/healthz',{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`],
        { timeout: 5_000 },
      );
      expect(probe.status).toBe(0);
    } finally {
      // A child that already exited (e.g. a failed start) emits no second 'exit': do not wait for one.
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
  }, 30_000);
});
