import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Node 20 is end of life: idgate runs, builds and is tested on Node 24 LTS. `make` fetches a pinned runtime
 * (scripts/ensure-node.sh) and puts it first on PATH; these tests check that the suite really runs on it, that
 * every place naming the runtime agrees, and that a tampered runtime tarball is refused.
 */
const ROOT = resolve(import.meta.dirname, '..');
const script = readFileSync(join(ROOT, 'scripts', 'ensure-node.sh'), 'utf8');
const pinned = /^NODE_VERSION=(\d+)\.(\d+)\.(\d+)$/m.exec(script);
const pinnedVersion = pinned ? `${pinned[1]}.${pinned[2]}.${pinned[3]}` : '';
const pinnedMajor = pinned ? Number(pinned[1]) : NaN;
const major = (v: string) => Number(/^v?(\d+)\./.exec(v)?.[1]);

describe('the Node runtime', () => {
  it('pins one Node 24 release with a sha512', () => {
    expect(pinnedMajor).toBe(24);
    expect(script).toMatch(/^NODE_SHA512=[0-9a-f]{128}$/m);
  });

  it('runs this suite on Node 24 or newer (make puts the pinned runtime first on PATH)', () => {
    expect(major(process.version)).toBeGreaterThanOrEqual(24);
  });

  it('spawns the same Node for `node` on PATH (npm, vitest and CLI shebangs) as the one running the tests', () => {
    const res = spawnSync('node', ['--version'], { encoding: 'utf8', timeout: 10_000 });
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout.trim()).toBe(process.version);
  });

  it('agrees everywhere: engines, @types/node, Dockerfile base, README', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
      devDependencies: Record<string, string>;
    };
    expect(pkg.engines.node).toBe(`>=${pinnedMajor}`);
    expect(major(pkg.devDependencies['@types/node']!.replace(/^\^/, ''))).toBe(pinnedMajor);
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(new RegExp(`^ARG NODE_IMAGE=node:${pinnedMajor}-bookworm-slim$`, 'm'));
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`Node.js ${pinnedMajor} LTS`);
    expect(readme).toContain(`.runtime/node-v${pinnedVersion}/bin`);
  });

  it('keeps .runtime/ out of git and out of the image build context', () => {
    expect(readFileSync(join(ROOT, '.gitignore'), 'utf8')).toMatch(/^\.runtime\/$/m);
    expect(readFileSync(join(ROOT, '.dockerignore'), 'utf8')).toMatch(/^\.runtime\/?$/m);
  });
});

describe('scripts/ensure-node.sh with a tampered tarball', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'idgate-runtime-'));
    mkdirSync(join(dir, 'scripts'));
    cpSync(join(ROOT, 'scripts', 'ensure-node.sh'), join(dir, 'scripts', 'ensure-node.sh'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a tarball whose sha512 is not the pinned one, and installs nothing', () => {
    // An attacker-controlled mirror serving a runnable "node" that is not the pinned build.
    const pkg = join(dir, 'evil', 'package', 'bin');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'node'), `#!/bin/sh\necho v${pinnedVersion}\n`, { mode: 0o755 });
    writeFileSync(join(dir, 'evil', 'package', 'LICENSE'), 'x');
    const tar = spawnSync('tar', ['-czf', join(dir, 'evil.tgz'), '-C', join(dir, 'evil'), 'package'], { encoding: 'utf8' });
    expect(tar.status, tar.stderr).toBe(0);

    const res = spawnSync('bash', [join(dir, 'scripts', 'ensure-node.sh')], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, IDGATE_NODE_TARBALL: join(dir, 'evil.tgz') },
    });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('integrity mismatch');
    expect(res.stdout).toBe('');
    expect(existsSync(join(dir, '.runtime', `node-v${pinnedVersion}`))).toBe(false);
  });
});
