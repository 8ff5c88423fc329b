import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { createCelCompiler } from '../cel/compile-cel.js';
import { createConfigSchema } from './config-schema.js';
import { ConfigError, type ConfigIssue } from './config-error.js';
import { crossCheckConfig, type RawIssue } from './cross-check.js';
import { deepFreeze } from './deep-freeze.js';
import { expandDemoIssuerRefs } from './demo-issuer-ref.js';
import { describeType } from './duration.js';
import { formatPath } from './format-path.js';
import type { SecretSources } from './secret-ref.js';
import { didYouMean } from '../core/suggest.js';
import type { IdgateConfig } from './types.js';
import { locatePath } from './yaml-locator.js';

/** Options of {@link parseConfig}. */
export interface ParseConfigOptions extends SecretSources {
  /** Label used in error messages, normally the file path (e.g. `examples/idgate.yaml`). */
  readonly sourceName: string;
}

/** Largest configuration document accepted, characters. */
const MAX_CONFIG_LENGTH = 4 * 1024 * 1024;

/**
 * Parses, validates and resolves an idgate YAML configuration.
 *
 * Every problem — YAML syntax, unknown keys (with "did you mean" suggestions), wrong types, bad durations,
 * unresolvable secret references, broken cross-references — is collected and reported at once, each with
 * its line and column.
 *
 * @returns the deep-frozen configuration with every default applied and every secret resolved.
 * @throws {ConfigError} listing all issues when the document cannot be used.
 */
export function parseConfig(text: string, options: ParseConfigOptions): IdgateConfig {
  const { sourceName } = options;
  if (text.length > MAX_CONFIG_LENGTH) {
    throw new ConfigError(sourceName, [{ path: '', message: `configuration too large (max ${MAX_CONFIG_LENGTH} characters)` }]);
  }
  const lineCounter = new LineCounter();
  // Core schema (YAML 1.2): `yes`/`no`/`on` stay strings; duplicate keys are errors.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, schema: 'core', merge: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      sourceName,
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { path: '', line: pos.line, column: pos.col, message: `YAML syntax error: ${firstLine(e.message)}` };
      }),
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(sourceName, [{ path: '', message: `YAML error: ${firstLine((err as Error).message)}` }]);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(sourceName, [{ path: '', line: 1, column: 1, message: `the configuration must be a mapping, got ${describeType(raw)}` }]);
  }

  const demoIssues = expandDemoIssuerRefs(raw as Record<string, unknown>);
  const knownKeys = new WeakMap<object, readonly string[]>();
  // One compiler for the load: the cross-section checks reuse what the schema compiled.
  const cel = createCelCompiler();
  const result = createConfigSchema(options, cel).safeParse(raw, { error: (iss) => errorMessage(iss, knownKeys) });

  const rawIssues: RawIssue[] = [...demoIssues, ...crossCheckConfig(raw, cel)];
  const crossPaths = new Set(rawIssues.map((i) => formatPath(i.path)));
  if (!result.success) {
    for (const iss of result.error.issues) {
      if (iss.code === 'unrecognized_keys') {
        const known = knownKeys.get(objectAt(raw, iss.path) ?? {}) ?? [];
        for (const key of iss.keys) {
          rawIssues.push({ path: [...iss.path, key], message: `unknown key "${key}"${didYouMean(key, known)}`, at: 'key' });
        }
      } else if (!crossPaths.has(formatPath(iss.path))) {
        // A cross-check names the same spot more precisely (e.g. `alg "none"` vs "not one of").
        rawIssues.push({ path: iss.path, message: iss.message, at: iss.code === 'invalid_key' ? 'key' : 'value' });
      }
    }
  }
  if (rawIssues.length > 0) {
    const issues: ConfigIssue[] = rawIssues.map((i) => {
      const pos = locatePath(doc, lineCounter, i.path, i.at ?? 'value');
      return { path: formatPath(i.path), ...(pos !== undefined ? { line: pos.line, column: pos.column } : {}), message: i.message };
    });
    issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw new ConfigError(sourceName, dedupe(issues));
  }
  if (!result.success) throw new ConfigError(sourceName, [{ path: '', message: 'invalid configuration' }]);
  return deepFreeze(result.data);
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0] ?? s;
}

function objectAt(raw: unknown, path: readonly PropertyKey[]): object | undefined {
  let cur: unknown = raw;
  for (const part of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[part];
  }
  return cur !== null && typeof cur === 'object' ? cur : undefined;
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\0${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

type RawZodIssue = z.core.$ZodRawIssue;

/** Short messages in the operator's terms ("a mapping", "a list") instead of zod's defaults. */
function errorMessage(iss: RawZodIssue, knownKeys: WeakMap<object, readonly string[]>): string | undefined {
  switch (iss.code) {
    case 'unrecognized_keys': {
      const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
      if (shape !== undefined && iss.input !== null && typeof iss.input === 'object') knownKeys.set(iss.input, Object.keys(shape));
      return undefined;
    }
    case 'invalid_type': {
      if (iss.input === undefined) return 'required';
      const expected = iss.expected === 'object' ? 'a mapping' : iss.expected === 'array' ? 'a list' : iss.expected === 'int' ? 'an integer' : `a ${iss.expected}`;
      return `expected ${expected}, got ${describeType(iss.input)}`;
    }
    case 'invalid_value': {
      const values = iss.values.map((v) => JSON.stringify(v));
      const hint = typeof iss.input === 'string' ? didYouMean(iss.input, iss.values.map(String)) : '';
      return `expected ${values.length === 1 ? values[0] : `one of ${values.join(', ')}`}, got ${JSON.stringify(iss.input) ?? 'nothing'}${hint}`;
    }
    case 'too_small':
      if (iss.origin === 'string' && iss.minimum === 1) return 'must not be empty';
      if (iss.origin === 'array') return `must have at least ${String(iss.minimum)} item${iss.minimum === 1 ? '' : 's'}`;
      return `must be at least ${String(iss.minimum)}`;
    case 'too_big':
      if (iss.origin === 'array') return `must have at most ${String(iss.maximum)} items`;
      if (iss.origin === 'string') return `must be at most ${String(iss.maximum)} characters`;
      return `must be at most ${String(iss.maximum)}`;
    case 'invalid_union':
      return 'does not match any allowed form';
    case 'invalid_key':
      return iss.issues[0]?.message;
    default:
      return undefined;
  }
}
