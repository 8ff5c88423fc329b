import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * No Docker engine runs on these machines, so this test performs the Dockerfile's runtime stage by hand in
 * a temp dir: the bundle (`dist/idgate/`, from scripts/bundle.mjs), `examples/` and `package.json` — and no
 * node_modules: every dependency is inside the bundle, and the temp dir has no node_modules above it either,
 * so a module the bundle failed to include fails here. Then it starts the image's entrypoint with `serve`
 * on a config with a CEL condition (the CEL library is a chunk of its own, require()d on the first compile)
 * and probes `/healthz` the way the HEALTHCHECK does. No `proto/`: the gRPC front end builds its service
 * definitions in code (src/extauthz/grpc-service-definitions.ts) and never reads a .proto file.
 */
const ROOT = resolve(import.meta.dirname, '..');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'idgate-image-'));
}, 10_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `dir` and every directory above it: where Node's resolution would look for node_modules. */
function ancestors(path: string): string[] {
  const parent = dirname(path);
  return parent === path ? [path] : [path, ...ancestors(parent)];
}

describe('the image build steps, performed in a temp dir', () => {
  it('copies the bundle and package.json, and the CLI prints the version from it without node_modules', () => {
    expect(existsSync(join(ROOT, 'dist', 'idgate', 'cli.js')), 'run the build first (make test does)').toBe(true);
    cpSync(join(ROOT, 'dist', 'idgate'), join(dir, 'dist', 'idgate'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    expect(ancestors(dir).filter((d) => existsSync(join(d, 'node_modules')))).toEqual([]);
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const res = spawnSync(process.execPath, [join(dir, 'dist', 'idgate', 'cli.js'), '--version'], { cwd: dir, encoding: 'utf8', timeout: 10_000 });
    expect(res.stderr).toBe('');
    expect(res.stdout.trim()).toBe(`idgate ${version.version}`);
    // The bundle carries the licences of the packages inside it (node_modules did, file by file).
    const licences = readFileSync(join(dir, 'dist', 'idgate', 'THIRD-PARTY-LICENSES.txt'), 'utf8');
    for (const pkg of ['zod', '@grpc/grpc-js', 'undici', 'jose', 'ioredis', '@bufbuild/cel']) expect(licences).toMatch(new RegExp(`^${pkg} \\d`, 'm'));
  });

  it('starts the entrypoint with serve and answers the HEALTHCHECK probe', async () => {
    expect(existsSync(join(dir, 'dist', 'idgate', 'cli.js')), 'the bundle is copied by the first test').toBe(true);
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
    - id: api
      match: { prefix: /api }
      conditions:
        - { name: no-delete, when: { cel: 'request.method == "DELETE"' }, then: deny }
`;
    writeFileSync(join(dir, 'etc', 'idgate.yaml'), config);
    const child = spawn(process.execPath, [join(dir, 'dist', 'idgate', 'cli.js'), 'serve', '--config', join(dir, 'etc', 'idgate.yaml')], {
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
