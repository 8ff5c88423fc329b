import { LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { z } from 'zod';
import { didYouMean } from '../core/suggest.js';
import { ConfigError, type ConfigIssue } from './config-error.js';
import type { RawIssue } from './cross-check.js';
import { describeType } from './duration.js';
import { formatPath } from './format-path.js';
import type { SourcePosition } from './types.js';
import { locatePath } from './yaml-locator.js';

/** Largest configuration document (platform or tenant file) accepted, characters. */
export const MAX_CONFIG_LENGTH = 4 * 1024 * 1024;

/** A parsed YAML document whose top level is a mapping, with what locates its nodes. */
export interface YamlMapping {
  readonly doc: Document;
  readonly lineCounter: LineCounter;
  readonly raw: Record<string, unknown>;
}

/**
 * Parses `text` as one YAML mapping (core schema: `yes`/`no`/`on` stay strings; duplicate keys are errors;
 * no merge keys; at most 100 alias expansions). `what` names the document in messages.
 *
 * @throws {ConfigError} on a document too large, a syntax error or a top level that is not a mapping.
 */
export function readYamlMapping(text: string, sourceName: string, what: string): YamlMapping {
  if (text.length > MAX_CONFIG_LENGTH) {
    throw new ConfigError(sourceName, [{ path: '', message: `${what} too large (max ${MAX_CONFIG_LENGTH} characters)` }]);
  }
  const lineCounter = new LineCounter();
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
    // The only error left after parsing: too many alias expansions (a "billion laughs" document). Point at
    // the first alias, so the file's author sees where the expansion starts.
    const at = firstAliasPosition(doc, lineCounter);
    throw new ConfigError(sourceName, [{ path: '', ...at, message: `YAML error: ${firstLine((err as Error).message)}` }]);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(sourceName, [{ path: '', line: 1, column: 1, message: `the ${what} must be a mapping, got ${describeType(raw)}` }]);
  }
  return { doc, lineCounter, raw: raw as Record<string, unknown> };
}

/**
 * Validates a parsed document against `schema`, with the issues `crossCheck` finds (run after the schema,
 * so it can reuse what the schema compiled). A cross-check issue replaces the schema's at the same path.
 *
 * @throws {ConfigError} listing every issue, each located in the document.
 */
export function validateDocument<S extends z.ZodType>(
  schema: S,
  yaml: YamlMapping,
  sourceName: string,
  crossCheck: () => RawIssue[],
): z.output<S> {
  const knownKeys = new WeakMap<object, readonly string[]>();
  const result = schema.safeParse(yaml.raw, { error: (iss) => errorMessage(iss, knownKeys) });
  const rawIssues: RawIssue[] = crossCheck();
  const crossPaths = new Set(rawIssues.map((i) => formatPath(i.path)));
  if (!result.success) {
    for (const iss of result.error.issues) {
      if (iss.code === 'unrecognized_keys') {
        const known = knownKeys.get(objectAt(yaml.raw, iss.path) ?? {}) ?? [];
        for (const key of iss.keys) {
          // A cross-check may explain an unknown key better (e.g. a tenant file declaring guardrails).
          if (crossPaths.has(formatPath([...iss.path, key]))) continue;
          rawIssues.push({ path: [...iss.path, key], message: `unknown key "${key}"${didYouMean(key, known)}`, at: 'key' });
        }
      } else if (!crossPaths.has(formatPath(iss.path))) {
        // A cross-check names the same spot more precisely (e.g. `alg "none"` vs "not one of").
        rawIssues.push({ path: iss.path, message: iss.message, at: iss.code === 'invalid_key' ? 'key' : 'value' });
      }
    }
  }
  if (rawIssues.length > 0) throw locatedError(yaml, sourceName, rawIssues);
  if (!result.success) throw new ConfigError(sourceName, [{ path: '', message: 'invalid configuration' }]);
  return result.data;
}

/** A {@link ConfigError} for `rawIssues`, each located in the document, sorted by position, duplicates dropped. */
export function locatedError(yaml: YamlMapping, sourceName: string, rawIssues: readonly RawIssue[]): ConfigError {
  const issues: ConfigIssue[] = rawIssues.map((i) => {
    const pos = locatePath(yaml.doc, yaml.lineCounter, i.path, i.at ?? 'value');
    return { path: formatPath(i.path), ...(pos !== undefined ? { line: pos.line, column: pos.column } : {}), message: i.message };
  });
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return new ConfigError(sourceName, dedupe(issues));
}

/** Sets `item.source` (non-enumerable) to where `path` is in the document. */
export function setSource(item: object, yaml: YamlMapping, file: string, path: readonly PropertyKey[]): void {
  const pos = locatePath(yaml.doc, yaml.lineCounter, path, 'value');
  if (pos === undefined) return;
  const source: SourcePosition = Object.freeze({ file, line: pos.line, column: pos.column });
  Object.defineProperty(item, 'source', { value: source, enumerable: false, configurable: false, writable: false });
}

function firstAliasPosition(doc: Document, lineCounter: LineCounter): { line: number; column: number } | Record<string, never> {
  let offset: number | undefined;
  visit(doc, {
    Alias(_key, node) {
      offset = node.range?.[0];
      return visit.BREAK;
    },
  });
  if (offset === undefined) return {};
  const pos = lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
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
