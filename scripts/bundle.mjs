// Bundles tsc's output (dist/src/) into the artifact idgate ships and runs: dist/idgate/cli.js and its chunks,
// with every dependency inside, so the image needs no node_modules (issue 15 §3: less module source text,
// compiled code and loader work in the heap; bench/README.md, "Bundled build (fifth round)").
//
//   node scripts/bundle.mjs [--minify none|syntax|full] [--out DIR]
//
// What is import()ed lazily today (the roles, the sandbox, ioredis, OpenTelemetry, the commands) stays a
// chunk of its own, loaded when the code that imports it runs. Beside the bundle, dist/idgate.modules.json
// lists the modules inside each chunk: test/role-modules.test.ts reads it to tell what a role loaded.
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'rolldown';

const ROOT = resolve(import.meta.dirname, '..');

/**
 * How much the minifier may do. All levels keep function and class names (stack traces in logs, and any
 * `.name` the code reads). `syntax` drops whitespace and comments and simplifies syntax; `full` also
 * shortens local variable names. Chosen by measurement (bench/README.md, "Bundled build (fifth round)"):
 * `syntax` took 3–5 MiB more off the idle RSS than no minification; `full` took nothing more measurable, so
 * the local names stay (the shipped code reads closer to its source).
 */
const MINIFY = {
  none: false,
  syntax: { compress: { keepNames: { function: true, class: true } }, mangle: false, codegen: { removeWhitespace: true } },
  full: { compress: { keepNames: { function: true, class: true } }, mangle: { keepNames: true }, codegen: { removeWhitespace: true } },
};
export const DEFAULT_MINIFY = 'syntax';

/**
 * @grpc/grpc-js requires @grpc/proto-loader (and with it the full protobufjs) only inside its channelz and
 * ORCA services, which idgate never starts: its gRPC services are built by hand (test/role-modules.test.ts).
 * Those services would read .proto files from grpc-js's package directory, which the bundle does not ship
 * either; so the loader is replaced by a module that says so if it is ever called, instead of carrying its
 * source text in the authz chunk.
 */
const PROTO_LOADER_STUB = `module.exports = { loadSync() { throw new Error('@grpc/proto-loader is not part of the idgate bundle'); } };`;

/**
 * ioredis reads its version from `__dirname/../../package.json` (for CLIENT SETINFO LIB-VER); in the bundle
 * that path is idgate's own package.json. The version is written in at build time instead.
 */
function ioredisVersion(code) {
  const version = JSON.parse(readFileSync(join(ROOT, 'node_modules/ioredis/package.json'), 'utf8')).version;
  const marker = 'async function getPackageMeta() {';
  // An ioredis upgrade that changes this function must fail the build, not silently report the wrong version.
  if (!code.includes(marker)) throw new Error('bundle: ioredis getPackageMeta() not found; update scripts/bundle.mjs');
  return code.replace(marker, `${marker} return { version: ${JSON.stringify(version)} };`);
}

/**
 * cel/compile-cel.ts loads `@bufbuild/cel` with `createRequire(import.meta.url)('@bufbuild/cel')` on the first
 * compile: synchronous (parseConfig() is), and only for a configuration with CEL. A bundler does not follow
 * that call. The bundle gets the library as an entry of its own, `cel-library.js` (a chunk beside every
 * other), and the call is pointed at it; Node 24 require()s that ES module synchronously (no top-level await).
 */
const CEL_REQUIRE = "createRequire(import.meta.url)('@bufbuild/cel')";
const CEL_ENTRY = 'cel-library';

/** @type {import('rolldown').Plugin} */
const idgateBundle = {
  name: 'idgate-bundle',
  resolveId(source) {
    if (source === '@grpc/proto-loader') return '\0proto-loader-stub';
    return source === `\0${CEL_ENTRY}` ? source : null;
  },
  load(id) {
    if (id === '\0proto-loader-stub') return PROTO_LOADER_STUB;
    return id === `\0${CEL_ENTRY}` ? "export * from '@bufbuild/cel';" : null;
  },
  // Both rewrites keep every line and column before them in place: the existing mappings hold (map: null).
  transform(code, id) {
    if (id.endsWith('/node_modules/ioredis/built/utils/index.js')) return { code: ioredisVersion(code), map: null };
    if (id.endsWith('/dist/src/cel/compile-cel.js')) {
      // A change of that call must fail the build, not ship a bundle that needs node_modules for CEL.
      if (!code.includes(CEL_REQUIRE)) throw new Error(`bundle: ${CEL_REQUIRE} not found in cel/compile-cel.js; update scripts/bundle.mjs`);
      return { code: code.replace(CEL_REQUIRE, `createRequire(import.meta.url)('./${CEL_ENTRY}.js')`), map: null };
    }
    return null;
  },
};

/**
 * The licence texts of every package with code in the bundle. In node_modules each package carried its own
 * LICENSE file; a minified bundle drops the files and the comments, and most of these licences (MIT, ISC,
 * BSD, Apache-2.0) ask that copies carry the notice. Written as THIRD-PARTY-LICENSES.txt beside the chunks.
 */
function thirdPartyLicenses(moduleIds) {
  const packages = new Set();
  for (const id of moduleIds) {
    const m = /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(id);
    if (m !== null) packages.add(m[1]);
  }
  const sections = [...packages].sort().map((dir) => {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying|notice)/i.test(f));
    const text = file === undefined ? `(no licence file in the package; package.json says ${JSON.stringify(pkg.license ?? 'nothing')})` : readFileSync(join(dir, file), 'utf8').trim();
    return `${pkg.name} ${pkg.version} (${pkg.license ?? 'unknown'})\n\n${text}\n`;
  });
  return `Third-party software bundled into idgate's dist/idgate/ (scripts/bundle.mjs), with its licences.\n\n${sections.join(`\n${'-'.repeat(78)}\n\n`)}`;
}

/** Builds the bundle into `out` (emptied first) and returns its chunks' file names. */
export async function bundle({ minify = DEFAULT_MINIFY, out = join(ROOT, 'dist', 'idgate') } = {}) {
  if (!Object.hasOwn(MINIFY, minify)) throw new Error(`bundle: --minify must be one of ${Object.keys(MINIFY).join(', ')}`);
  rmSync(out, { recursive: true, force: true });
  const result = await build({
    cwd: ROOT,
    // The CEL library's entry has a fixed file name: compile-cel's require() names it (CEL_REQUIRE above).
    input: { cli: join(ROOT, 'dist/src/cli.js'), [CEL_ENTRY]: `\0${CEL_ENTRY}` },
    platform: 'node',
    plugins: [idgateBundle],
    logLevel: 'warn',
    write: true,
    output: {
      dir: out,
      format: 'esm',
      entryFileNames: '[name].js',
      chunkFileNames: '[name]-[hash].js',
      minify: MINIFY[minify],
      keepNames: true,
      // Each chunk names its .map; node reads it only with --enable-source-maps (not set in the image: it
      // costs memory and start-up), for an operator mapping a stack trace (docs/deployment.md).
      sourcemap: true,
    },
  });
  const modules = {};
  for (const item of result.output) {
    if (item.type === 'chunk') modules[item.fileName] = item.moduleIds.filter((id) => !id.startsWith('\0')).map((id) => `/${relative(ROOT, id)}`);
  }
  writeFileSync(`${out}.modules.json`, `${JSON.stringify(modules, null, 1)}\n`);
  writeFileSync(join(out, 'THIRD-PARTY-LICENSES.txt'), thirdPartyLicenses(result.output.flatMap((item) => (item.type === 'chunk' ? item.moduleIds : []))));
  return Object.keys(modules);
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { minify: { type: 'string', default: DEFAULT_MINIFY }, out: { type: 'string' } } });
  const chunks = await bundle({ minify: values.minify, ...(values.out ? { out: resolve(values.out) } : {}) });
  console.log(`bundle: ${chunks.length} chunks in ${relative(ROOT, values.out ? resolve(values.out) : join(ROOT, 'dist', 'idgate'))}/ (minify: ${values.minify})`);
}
