import { cruise, type ICruiseResult, type IForbiddenRuleType, type IViolation } from 'dependency-cruiser';

/**
 * The layer table of src/ (docs/architecture.md), bottom to top, as dependency-cruiser rules. A folder may
 * import only from its own layer or below; the leaves (layer 1) only from core/; no two folders may import
 * each other. Test files (`*.test.ts`) are not cruised: a test may import anything.
 *
 * An entry is a folder of src/ (`core`) or a file at its root (`cli.ts`). Every entry of src/ must be in
 * exactly one layer (checked by test/architecture-layers.test.ts), so a new folder has to be placed here.
 */
export const LAYERS: readonly (readonly string[])[] = [
  /* 0 */ ['core'],
  /* 1 */ ['net', 'http', 'cel', 'tracing'],
  /* 2 */ ['config'],
  /* 3 */ ['policy', 'identity', 'didit', 'store', 'tls'],
  /* 4 */ ['risk', 'verification', 'engine'],
  /* 5 */ ['extauthz', 'httpauthz', 'webhook', 'observability', 'sandbox', 'demo'],
  /* 6 */ ['app', 'cli.ts'],
];

/** The one rule at folder scope: its violations name folders, and are expanded to file imports. */
const FOLDER_CYCLE_RULE = 'no-folder-cycle';

/** The leaves: besides themselves, they import only core/. */
const LEAF_LAYER = 1;

/**
 * Violations that exist today and belong to another change, as exact `from → to` file pairs (paths from the
 * repository root). Each is reported as a count on every run, and an entry that no longer occurs fails the
 * test, so the list can only shrink: delete an entry once the change that fixes it has landed.
 */
export const KNOWN_VIOLATIONS: readonly { readonly from: string; readonly to: string; readonly why: string }[] = [
];

/** One import from a file to another, paths from the repository root. */
export interface FileEdge {
  readonly from: string;
  readonly to: string;
}

/** One broken rule, at file level: a folder cycle is expanded to the file imports between its two folders. */
export interface LayerViolation extends FileEdge {
  readonly rule: string;
  /** For a folder cycle: the cycle, e.g. `src/a → src/b → src/a`, and the file imports of each of its hops. */
  readonly cycle?: { readonly path: string; readonly hops: readonly (readonly FileEdge[])[] };
}

function pattern(entries: readonly string[]): string {
  return `^src/(${entries.map((e) => (e.endsWith('.ts') ? `${e.replaceAll('.', '\\.')}$` : `${e}/`)).join('|')})`;
}

/** The rules of {@link LAYERS}. */
export function layerRules(): IForbiddenRuleType[] {
  const rules: IForbiddenRuleType[] = [];
  LAYERS.forEach((entries, layer) => {
    const above = LAYERS.slice(layer + 1).flat();
    if (above.length === 0) return;
    rules.push({
      name: `no-upward-import-from-layer-${layer}`,
      comment: `${entries.join(', ')} (layer ${layer}) may import only from layers 0–${layer}`,
      severity: 'error',
      from: { path: pattern(entries) },
      to: { path: pattern(above) },
    });
  });
  rules.push({
    name: 'leaves-import-only-core',
    comment: `the leaves (${LAYERS[LEAF_LAYER]?.join(', ')}) import nothing from src/ but core/ and themselves`,
    severity: 'error',
    from: { path: `${pattern(LAYERS[LEAF_LAYER] ?? [])}` },
    to: { path: '^src/', pathNot: '^src/(core|$1)' },
  });
  rules.push({
    name: FOLDER_CYCLE_RULE,
    comment: 'no two folders of src/ import each other, directly or through others',
    severity: 'error',
    scope: 'folder',
    from: { path: '^src/' },
    to: { path: '^src/', circular: true },
  });
  rules.push({
    name: 'no-unresolved-import',
    comment: 'an import the cruiser cannot resolve would escape every other rule',
    severity: 'error',
    from: { path: '^src/' },
    to: { couldNotResolve: true },
  });
  return rules;
}

/**
 * Cruises `<root>/src` (test files excluded, type-only imports included) against {@link layerRules} and
 * answers every violation at file level, paths relative to `root`.
 */
export async function checkLayers(root: string): Promise<LayerViolation[]> {
  const reported = await cruise(
    ['src'],
    {
      baseDir: root,
      validate: true,
      ruleSet: { forbidden: layerRules() },
      // `import type` counts: a type import is still a dependency a reader has to follow.
      tsPreCompilationDeps: true,
      exclude: { path: '\\.test\\.ts$' },
      doNotFollow: { path: 'node_modules' },
    },
    // `exports` maps honoured the way Node resolves an ESM import, so a package's documented subpath entry
    // (e.g. `jose/jwt/verify`, a `./jwt/*` pattern) resolves instead of counting as an unresolved import.
    { extensions: ['.ts', '.js'], exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'] },
  );
  const result = reported.output as ICruiseResult;
  const edges: FileEdge[] = result.modules.flatMap((m) => m.dependencies.map((d) => ({ from: m.source, to: d.resolved })));
  return result.summary.violations.flatMap((v) => expand(v, edges));
}

/** The layer of a path under src/, or undefined when its entry is not in {@link LAYERS}. */
function layerOf(path: string): number | undefined {
  const entry = path.replace(/^src\//, '').split('/')[0] ?? '';
  const layer = LAYERS.findIndex((entries) => entries.includes(entry));
  return layer === -1 ? undefined : layer;
}

/**
 * A folder violation as the file imports from one folder into the other; a module violation as it is.
 * dependency-cruiser reports a folder cycle once from each folder in it; the report from a folder into a
 * lower layer is dropped, as those imports are allowed: the cycle's upward imports are reported (by this
 * rule and the upward rule) from the other side.
 */
function expand(v: IViolation, edges: readonly FileEdge[]): LayerViolation[] {
  if (v.rule.name !== FOLDER_CYCLE_RULE) return [{ rule: v.rule.name, from: v.from, to: v.to }];
  const [fromLayer, toLayer] = [layerOf(v.from), layerOf(v.to)];
  if (fromLayer !== undefined && toLayer !== undefined && toLayer < fromLayer) return [];
  const folders = [v.from, ...(v.cycle ?? []).map((c) => c.name)];
  const between = (from: string, to: string): FileEdge[] =>
    edges.filter((e) => e.from.slice(0, e.from.lastIndexOf('/')) === from && e.to.slice(0, e.to.lastIndexOf('/')) === to);
  const hops = folders.slice(1).map((to, i) => between(folders[i] as string, to));
  const cycle = { path: folders.join(' → '), hops };
  return between(v.from, v.to).map((e) => ({ rule: v.rule.name, ...e, cycle }));
}

/**
 * Splits violations into those on the {@link KNOWN_VIOLATIONS} list and the rest, and names the entries of
 * the list that no longer occur. A folder cycle is known when one of its hops is made only of known imports
 * (removing them breaks the cycle).
 */
export function splitKnown(violations: readonly LayerViolation[]): {
  readonly known: LayerViolation[];
  readonly unknown: LayerViolation[];
  readonly stale: FileEdge[];
} {
  const key = (e: FileEdge): string => `${e.from} → ${e.to}`;
  const allowed = new Set(KNOWN_VIOLATIONS.map(key));
  const isKnown = (v: LayerViolation): boolean =>
    v.cycle === undefined
      ? allowed.has(key(v))
      : v.cycle.hops.some((hop) => hop.length > 0 && hop.every((e) => allowed.has(key(e))));
  const seen = new Set(violations.map(key));
  return {
    known: violations.filter(isKnown),
    unknown: violations.filter((v) => !isKnown(v)),
    stale: KNOWN_VIOLATIONS.filter((e) => !seen.has(key(e))).map(({ from, to }) => ({ from, to })),
  };
}

/** `from → to  [rule]`, one line per violation, for a failure message. */
export function describeViolation(v: LayerViolation): string {
  return `${v.from} → ${v.to}  [${v.rule}${v.cycle !== undefined ? `: ${v.cycle.path}` : ''}]`;
}
