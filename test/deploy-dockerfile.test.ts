import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IMAGE_RUNTIME_ENV, JEMALLOC_CONF, NODE_RUNTIME_ENV, NODE_RUNTIME_FLAGS, findJemalloc } from '../bench/targets.js';

interface Instruction {
  readonly op: string;
  readonly args: string;
}
interface Stage {
  readonly image: string;
  readonly name?: string;
  readonly instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions (comments dropped, `\` continuations joined). */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (current === '' && /^\s*#/.test(line)) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim() !== '') logical.push(current.trim());
    current = '';
  }
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+(.*)$/.exec(l);
    if (m === null) throw new Error(`cannot parse Dockerfile line: ${l}`);
    const op = (m[1] ?? '').toUpperCase();
    const rest = m[2] ?? '';
    if (op === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      args.set(k ?? '', v ?? '');
      continue;
    }
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      const image = (f?.[1] ?? '').replace(/\$\{(\w+)\}/g, (_x, name: string) => args.get(name) ?? '');
      stages.push({ image, ...(f?.[2] !== undefined ? { name: f[2] } : {}), instructions: [] });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (stage === undefined) throw new Error(`${op} before FROM`);
    stage.instructions.push({ op, args: rest });
  }
  return { args, stages };
}

/** COPY sources and destination (flags like --from/--chown stripped). */
function copyParts(args: string): { from?: string; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  let from: string | undefined;
  const rest: string[] = [];
  for (const w of words) {
    if (w.startsWith('--from=')) from = w.slice('--from='.length);
    else if (!w.startsWith('--')) rest.push(w);
  }
  const dest = rest.pop() ?? '';
  return { ...(from !== undefined ? { from } : {}), sources: rest, dest };
}

/** Whether .dockerignore rules (in order, last match wins, `!` re-includes) keep a path in the context. */
function includedByDockerignore(rules: readonly string[], path: string): boolean {
  const toRegex = (pattern: string): RegExp =>
    new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\/?/g, '\u0000')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')
        .replace(/\u0000/g, '.*')}(/.*)?$`,
    );
  let included = true;
  for (const rule of rules) {
    const negate = rule.startsWith('!');
    const pattern = negate ? rule.slice(1) : rule;
    if (toRegex(pattern).test(path)) included = negate;
  }
  return included;
}

const dockerfile = parseDockerfile(readFileSync('Dockerfile', 'utf8'));
const ignoreRules = readFileSync('.dockerignore', 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const runtime = dockerfile.stages[dockerfile.stages.length - 1];
const jsonArgs = (stage: Stage | undefined, op: string): unknown => {
  const ins = stage?.instructions.filter((i) => i.op === op).pop();
  return ins === undefined ? undefined : JSON.parse(ins.args);
};

describe('Dockerfile', () => {
  it('is multi-stage on node:24-bookworm-slim with named stages', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    for (const s of dockerfile.stages) expect(s.image).toBe('node:24-bookworm-slim');
    expect(dockerfile.stages.map((s) => s.name)).toContain('build');
  });

  it('builds with npm ci + npm run build (tsc, then the bundle) and ships the bundle alone, no node_modules', () => {
    const build = dockerfile.stages.find((s) => s.name === 'build');
    const runs = (s: Stage | undefined): string => (s?.instructions ?? []).filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    expect(runs(build)).toMatch(/npm ci\b/);
    expect(runs(build)).toMatch(/npm run build\b/);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['build']).toBe('tsc -p tsconfig.json && node scripts/bundle.mjs');
    const copies = (runtime?.instructions ?? []).filter((i) => i.op === 'COPY').map((i) => copyParts(i.args));
    // Every dependency is inside the bundle (test/deploy-image-build.test.ts runs it without node_modules).
    expect(copies.filter((c) => c.sources.some((s) => s.includes('node_modules')))).toEqual([]);
    expect(dockerfile.stages.flatMap((s) => s.instructions).filter((i) => i.op === 'RUN' && /--omit=dev/.test(i.args))).toEqual([]);
    const fromBuild = copies.filter((c) => c.from === 'build').flatMap((c) => c.sources);
    expect(fromBuild).toEqual(['/app/dist/idgate']);
    // Nothing from the source tree or tests ends up in the runtime image besides data directories.
    const fromContext = copies.filter((c) => c.from === undefined).flatMap((c) => c.sources);
    expect(fromContext.sort()).toEqual(['examples', 'package.json']);
  });

  it('runs as a non-root user (uid 10001)', () => {
    const user = runtime?.instructions.filter((i) => i.op === 'USER').pop()?.args ?? 'root';
    expect(user.split(':')[0]).toBe('10001');
    expect(runtime?.instructions.some((i) => i.op === 'RUN' && /useradd\b.*--uid 10001/.test(i.args))).toBe(true);
  });

  it('starts node on the bundled CLI, serve by default, with the config where k8s mounts it', () => {
    expect(jsonArgs(runtime, 'ENTRYPOINT')).toEqual(['node', '--max-semi-space-size=8', '--heap-growing-percent=50', '/app/dist/idgate/cli.js']);
    expect(jsonArgs(runtime, 'CMD')).toEqual(['serve', '--config', '/etc/idgate/idgate.yaml']);
    const deployment = readFileSync('k8s/base/deployment-authz.yaml', 'utf8');
    expect(deployment).toContain('mountPath: /etc/idgate');
  });

  it('runs node with the settings the bench measures and make run uses (bench/README.md, "Memory, fourth round")', () => {
    // The flags between `node` and the CLI, and the runtime stage's ENV, are what bench/targets.ts starts every
    // target with: a memory or CPU figure of the bench is a figure of the image.
    const entry = jsonArgs(runtime, 'ENTRYPOINT') as string[];
    expect(entry.slice(1, -1)).toEqual([...NODE_RUNTIME_FLAGS]);
    const env = (runtime?.instructions ?? []).filter((i) => i.op === 'ENV').flatMap((i) => i.args.split(/\s+/));
    for (const [name, value] of Object.entries(IMAGE_RUNTIME_ENV)) expect(env).toContain(`${name}=${value}`);
    // The bench starts its targets with the image's environment, the preload pointing at this machine's
    // jemalloc when it has one (the image links its own at IMAGE_RUNTIME_ENV.LD_PRELOAD).
    const here = findJemalloc();
    expect(NODE_RUNTIME_ENV).toEqual({ MALLOC_ARENA_MAX: '2', ...(here !== undefined ? { LD_PRELOAD: here, MALLOC_CONF: JEMALLOC_CONF } : {}) });
    // The image installs the library it preloads, at the path it preloads it from.
    const install = runtime?.instructions.find((i) => i.op === 'RUN' && i.args.includes('libjemalloc2'))?.args ?? '';
    expect(install).toMatch(/apt-get install -y --no-install-recommends libjemalloc2/);
    expect(install).toContain(` ${IMAGE_RUNTIME_ENV.LD_PRELOAD}`);
    // make run: the same flags, and the same malloc settings when the machine has jemalloc.
    const makefile = readFileSync('Makefile', 'utf8').split('\n');
    expect(makefile.find((l) => l.includes('dist/idgate/cli.js serve'))).toBe(`\t$(MALLOC_ENV) $(NODE) ${NODE_RUNTIME_FLAGS.join(' ')} dist/idgate/cli.js serve --config $(CONFIG)`);
    expect(makefile.find((l) => l.startsWith('MALLOC_ENV :='))?.replaceAll('$(COMMA)', ',')).toBe(
      `MALLOC_ENV := MALLOC_ARENA_MAX=${IMAGE_RUNTIME_ENV.MALLOC_ARENA_MAX}$(if $(JEMALLOC), LD_PRELOAD=$(JEMALLOC) MALLOC_CONF=${JEMALLOC_CONF})`,
    );
  });

  it('reaches the k8s pods: the idgate deployments pass args only, so the ENTRYPOINT and its node flags apply', () => {
    // The GC flags are not allowed in NODE_OPTIONS; a `command:` would drop them (bench/README.md, "GC sizing,
    // sixth round": under the manifests' --max-old-space-size=384, V8's own growing factor is 1.35).
    for (const file of ['k8s/base/deployment-authz.yaml', 'k8s/base/deployment-webhook.yaml']) {
      const manifest = readFileSync(file, 'utf8');
      expect(manifest).toMatch(/^\s+args: \[/m);
      expect(manifest).not.toMatch(/^\s+command:/m);
    }
  });

  it('has an entrypoint that the build output layout produces from src/cli.ts', () => {
    const workdir = runtime?.instructions.filter((i) => i.op === 'WORKDIR').pop()?.args;
    expect(workdir).toBe('/app');
    const tsconfig = JSON.parse(readFileSync('tsconfig.json', 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
    // tsc maps <rootDir>/src/cli.ts to <outDir>/src/cli.js; scripts/bundle.mjs bundles that into
    // <outDir>/idgate/cli.js, whose modules it lists in <outDir>/idgate.modules.json; the image copies
    // <outDir>/idgate to /app/dist/idgate.
    const entry = (jsonArgs(runtime, 'ENTRYPOINT') as string[]).at(-1) ?? '';
    const inDist = posix.relative('/app/dist', entry);
    expect(inDist).toBe('idgate/cli.js');
    expect(tsconfig.compilerOptions.outDir).toBe('dist');
    expect(tsconfig.compilerOptions.rootDir).toBe('.');
    const modules = JSON.parse(readFileSync('dist/idgate.modules.json', 'utf8')) as Record<string, string[]>;
    expect(modules['cli.js']).toContain('/dist/src/cli.js');
    expect(existsSync(posix.join('dist', inDist))).toBe(true);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { bin: Record<string, string>; type: string };
    expect(pkg.bin['idgate']).toBe(posix.join('dist', inDist));
    // The bundle's chunks are .js ES modules: the package.json the image ships beside dist/ says so.
    expect(pkg.type).toBe('module');
    expect(existsSync('src/cli.ts'), 'src/cli.ts (the CLI entry point) must exist').toBe(true);
  });

  it('copies only paths that exist and that .dockerignore keeps in the context', () => {
    const sources = dockerfile.stages
      .flatMap((s) => s.instructions)
      .filter((i) => i.op === 'COPY')
      .map((i) => copyParts(i.args))
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.sources);
    expect(new Set(sources)).toEqual(new Set(['package.json', 'package-lock.json', 'tsconfig.json', 'scripts/bundle.mjs', 'src', 'examples']));
    for (const s of sources) {
      expect(existsSync(s), s).toBe(true);
      // Docker filters files, not directories: a directory source must keep at least its files.
      const probe = statSync(s).isDirectory()
        ? readdirSync(s, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => posix.join(e.parentPath, e.name))
        : [s];
      expect(probe.filter((f) => includedByDockerignore(ignoreRules, f)).length, `${s} excluded by .dockerignore`).toBeGreaterThan(0);
    }
    expect(includedByDockerignore(ignoreRules, 'src/core/decision.ts')).toBe(true);
    expect(includedByDockerignore(ignoreRules, 'node_modules/yaml/package.json')).toBe(false);
    expect(includedByDockerignore(ignoreRules, 'test/deploy-k8s.test.ts')).toBe(false);
    expect(includedByDockerignore(ignoreRules, 'src/core/canonical-path.test.ts')).toBe(false);
    expect(includedByDockerignore(ignoreRules, '.env')).toBe(false);
  });

  it('exposes the four ports and health-checks /healthz on the admin port with node', () => {
    const exposed = (runtime?.instructions ?? []).filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
    expect(exposed.sort()).toEqual(['8080', '9090', '9191', '9192']);
    const hc = runtime?.instructions.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
    expect(hc).toMatch(/CMD \["node",/);
    expect(hc).toContain('http://127.0.0.1:9090/healthz');
  });
});
