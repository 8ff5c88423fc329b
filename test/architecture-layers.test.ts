import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLayers, describeViolation, KNOWN_VIOLATIONS, LAYERS, splitKnown } from './support/layer-rules.js';

/**
 * The layering of src/ (docs/architecture.md), enforced by dependency-cruiser on every `make test`: an upward
 * import, a leaf importing anything but core/, or two folders importing each other fails here, naming the
 * importing file, the imported file and the rule.
 */
const ROOT = resolve(import.meta.dirname, '..');
// Cruising parses every source file with the TypeScript compiler: seconds alone, more on a loaded machine.
const CRUISE_TIMEOUT_MS = 120_000;

describe('architecture layers', () => {
  it('places every folder and root file of src/ in exactly one layer', () => {
    const entries = readdirSync(join(ROOT, 'src'), { withFileTypes: true })
      .filter((e) => e.isDirectory() || (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')))
      .map((e) => e.name);
    const placed = LAYERS.flat();
    expect(entries.filter((e) => !placed.includes(e)), 'src/ entries missing from LAYERS (test/support/layer-rules.ts)').toEqual([]);
    expect(placed.filter((e, i) => placed.indexOf(e) !== i), 'entries placed in two layers').toEqual([]);
  });

  it(
    'finds no import in src/ that breaks the layering (besides the known ones, which must still occur)',
    async () => {
      const { known, unknown, stale } = splitKnown(await checkLayers(ROOT));
      // Reported on every run, so the allow-list stays visible until it is empty.
      console.info(
        `layering: ${KNOWN_VIOLATIONS.length} known violation(s) still allowed by KNOWN_VIOLATIONS ` +
          `(${known.length} reported: a folder cycle is reported once per import that makes it)\n` +
          KNOWN_VIOLATIONS.map((v) => `  ${v.from} → ${v.to}  (${v.why})`).join('\n'),
      );
      expect(unknown.map(describeViolation), 'imports that break the layering (importing file → imported file [rule])').toEqual([]);
      expect(stale, 'KNOWN_VIOLATIONS entries that no longer occur: delete them').toEqual([]);
    },
    CRUISE_TIMEOUT_MS,
  );

  describe('on a fixture', () => {
    let root = '';
    beforeAll(() => {
      root = mkdtempSync(join(tmpdir(), 'idgate-layers-'));
    });
    afterAll(() => rmSync(root, { recursive: true, force: true }));
    const write = (path: string, text: string): void => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };

    it(
      'reports an upward type import, a leaf importing a leaf, folder cycles and an unresolved import',
      async () => {
        write('src/core/shape.ts', "import type { Engine } from '../engine/engine.js';\nexport type Shape = Engine;\n");
        write('src/engine/engine.ts', 'export interface Engine { readonly id: string }\n');
        write('src/net/parse.ts', "import { render } from '../http/render.js';\nexport const parse = render;\n");
        write('src/http/render.ts', "export const render = (): string => '';\n");
        write('src/extauthz/server.ts', "import { reply } from '../httpauthz/reply.js';\nexport const server = reply;\n");
        write('src/httpauthz/reply.ts', "import { codec } from '../extauthz/codec.js';\nexport const reply = codec;\n");
        write('src/extauthz/codec.ts', 'export const codec = 1;\n');
        write('src/tls/load.ts', "import { gone } from '../nowhere/gone.js';\nexport const load = gone;\n");
        // Allowed: downward imports, and anything from a test file.
        write('src/app/start.ts', "import { server } from '../extauthz/server.js';\nimport type { Shape } from '../core/shape.js';\nexport const start = (s: Shape) => [server, s];\n");
        write('src/core/shape.test.ts', "import { start } from '../app/start.js';\nexport const t = start;\n");
        // A folder cycle across layers is reported by its upward import(s) only, not by the downward ones.
        write('src/policy/route.ts', "import { limits } from '../config/limits.js';\nexport const route = limits;\n");
        write('src/config/limits.ts', "import type { Route } from '../policy/types.js';\nexport const limits = (r: Route) => r;\n");
        write('src/policy/types.ts', 'export type Route = string;\n');

        const found = (await checkLayers(root)).map((v) => `${v.rule}: ${v.from} → ${v.to}`).sort();
        expect(found).toEqual([
          'leaves-import-only-core: src/net/parse.ts → src/http/render.ts',
          'no-folder-cycle: src/config/limits.ts → src/policy/types.ts',
          'no-folder-cycle: src/extauthz/server.ts → src/httpauthz/reply.ts',
          'no-folder-cycle: src/httpauthz/reply.ts → src/extauthz/codec.ts',
          'no-unresolved-import: src/tls/load.ts → ../nowhere/gone.js',
          'no-upward-import-from-layer-0: src/core/shape.ts → src/engine/engine.ts',
          'no-upward-import-from-layer-2: src/config/limits.ts → src/policy/types.ts',
        ]);
      },
      CRUISE_TIMEOUT_MS,
    );

    it('names the importing file, the imported file and the rule in its message', () => {
      expect(describeViolation({ rule: 'no-upward-import-from-layer-0', from: 'src/core/a.ts', to: 'src/engine/b.ts' }))
        .toBe('src/core/a.ts → src/engine/b.ts  [no-upward-import-from-layer-0]');
    });
  });
});
