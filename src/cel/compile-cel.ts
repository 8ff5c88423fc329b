import { createRequire } from 'node:module';
import type * as CelLibrary from '@bufbuild/cel';
import type { CelEnv, CelInput } from '@bufbuild/cel';
import { didYouMean } from '../core/suggest.js';

/** A parsed CEL expression node (the cel-spec protobuf shape). */
type Expr = ReturnType<typeof CelLibrary.parse>['expr'];

let library: typeof CelLibrary | undefined;

/**
 * `@bufbuild/cel` (and the protobuf runtime it brings) is loaded when the first expression is compiled, so
 * a configuration without CEL never holds it in memory (issue 15). Its CommonJS build, through require(),
 * keeps compilation synchronous for parseConfig().
 */
function celLibrary(): typeof CelLibrary {
  library ??= createRequire(import.meta.url)('@bufbuild/cel') as typeof CelLibrary;
  return library;
}

/** The top-level variables a condition expression may read. */
export const CEL_VARIABLES = ['request', 'claims', 'context', 'verification', 'risk'] as const;

/** One of {@link CEL_VARIABLES}. */
export type CelVariable = (typeof CEL_VARIABLES)[number];

/** Values bound to the variables for one evaluation (plain JSON-like data; objects are CEL maps). */
export type CelBindings = Readonly<Record<CelVariable, Readonly<Record<string, CelInput>>>>;

/** Longest accepted expression, characters. */
export const MAX_CEL_LENGTH = 4096;
/** Most AST nodes in one expression (bounds planning and evaluation work). */
const MAX_CEL_NODES = 1000;
/**
 * Most nested comprehensions (`all`, `exists`, `map`, `filter`). Each level multiplies the work by the
 * size of a list the caller controls (a claim array), so two levels is quadratic in the token size and
 * deeper nesting is refused.
 */
const MAX_COMPREHENSION_DEPTH = 2;

/** The result of evaluating a condition expression. `reason` never contains request or claim values. */
export type CelEvaluation = { readonly ok: true; readonly value: boolean } | { readonly ok: false; readonly reason: string };

/** A compiled, reusable condition expression. */
export interface CelProgram {
  readonly expression: string;
  /** Which of the top-level variables the expression reads (e.g. `risk`, for the engine's risk stage). */
  readonly variables: ReadonlySet<CelVariable>;
  /** The claims, headers and query it reads, as far as they are named statically (replay records). */
  readonly reads: CelReads;
  /**
   * Evaluates against `bindings`. A CEL error (missing key, no matching overload, bad conversion…), a
   * non-bool result or a thrown fault is `{ ok: false }`; the caller fails closed. Never throws.
   */
  evaluate(bindings: CelBindings): CelEvaluation;
}

/**
 * What an expression reads of the open maps, by literal name (`claims.email`, `claims['org']`,
 * `request.headers['x-device']`). A key computed at run time (`claims[k]`, `'x' in claims`,
 * `claims.exists(…)`) cannot be named: the `…Dynamic` flag says one exists.
 */
export interface CelReads {
  readonly claims: ReadonlySet<string>;
  readonly claimsDynamic: boolean;
  readonly headers: ReadonlySet<string>;
  readonly headersDynamic: boolean;
  /** `request.query` is read. */
  readonly query: boolean;
}

/** {@link CelCompiler.compile}'s answer: a program, or why the expression is unusable. */
export type CompileCelResult =
  | { readonly ok: true; readonly program: CelProgram }
  | {
      readonly ok: false;
      readonly message: string;
      /** 1-based position inside the expression, when the parser reported one. */
      readonly line?: number;
      readonly column?: number;
    };

/** Compiles condition expressions against one shared CEL environment. */
export interface CelCompiler {
  /**
   * Parses, checks and plans `expression` once: the answer is remembered, so asking again for the same
   * expression (the schema, then the cross-section checks of one load) costs a map lookup. Load-time checks: syntax (with position), length and
   * size limits, unknown top-level variables, unknown functions, message construction, constant regular
   * expressions that do not compile, and results that are certainly not a bool (a literal, a list or map,
   * arithmetic, a bare variable). `@bufbuild/cel` 0.6 does not export its type checker, so a result whose
   * type depends on request data (e.g. `claims.level`) is only known at run time — where a non-bool is an
   * evaluation error.
   */
  compile(expression: string): CompileCelResult;
}

const SPECIAL_CALLS = new Set(['_&&_', '_||_', '_?_:_', '_[_]', '@not_strictly_false']);
/** Type names that may appear as identifiers (`type(x) == string`). */
const TYPE_IDENTS = new Set(['bool', 'bytes', 'double', 'int', 'uint', 'string', 'list', 'map', 'null_type', 'type', 'dyn']);
/** Calls whose result is never a bool. */
const NON_BOOL_CALLS = new Set([
  '_+_', '_-_', '_*_', '_/_', '_%_', '-_', 'size', 'string', 'int', 'uint', 'double', 'bytes', 'timestamp', 'duration', 'type',
  'dyn', 'getFullYear', 'getMonth', 'getDate', 'getDayOfMonth', 'getDayOfWeek', 'getDayOfYear', 'getHours', 'getMinutes',
  'getSeconds', 'getMilliseconds',
]);

type Kind = 'bool' | 'other' | 'unknown';

/** The fixed fields of the structured variables (`claims`, `context`, `verification` have open keys). */
const FIELDS: Readonly<Partial<Record<CelVariable, Readonly<Record<string, Kind>>>>> = {
  request: {
    method: 'other', host: 'other', path: 'other', query: 'other', scheme: 'other', headers: 'other', sourceIp: 'other', country: 'other',
    principal: 'other',
  },
  risk: { assessed: 'bool', score: 'other', signals: 'other' },
};

/** The variable and field of `request.method`-like selections (a variable not shadowed by a macro). */
function fixedField(e: Expr, scope: ReadonlySet<string>): { variable: CelVariable; field: string; fields: Readonly<Record<string, Kind>> } | undefined {
  if (e.exprKind.case !== 'selectExpr') return undefined;
  const operand = e.exprKind.value.operand?.exprKind;
  if (operand?.case !== 'identExpr' || scope.has(operand.value.name)) return undefined;
  const variable = operand.value.name as CelVariable;
  const fields = FIELDS[variable];
  return fields === undefined ? undefined : { variable, field: e.exprKind.value.field, fields };
}

/**
 * Creates a compiler for condition expressions. Uses `@bufbuild/cel` (parser, planner and evaluator of the
 * CEL spec, no protobuf registry needed: every variable is a map of JSON-like values).
 */
export function createCelCompiler(): CelCompiler {
  let env: CelEnv | undefined;
  const compiled = new Map<string, CompileCelResult>();

  return {
    compile(expression) {
      let result = compiled.get(expression);
      if (result === undefined) {
        env ??= createEnv();
        result = compileExpression(env, expression);
        compiled.set(expression, result);
      }
      return result;
    },
  };
}

/** Every variable is a map of JSON-like values: no protobuf registry is needed. */
function createEnv(): CelEnv {
  const { celEnv, CelScalar, mapType } = celLibrary();
  const dynMap = mapType(CelScalar.STRING, CelScalar.DYN);
  return celEnv({ variables: { request: dynMap, claims: dynMap, context: dynMap, verification: dynMap, risk: dynMap } });
}

let compileCount = 0;

/**
 * How many expressions the compilers of this process have parsed, checked and planned (not the answers
 * they remembered). For tests that hold a load to one compile per expression.
 */
export function celCompileCount(): number {
  return compileCount;
}

function compileExpression(env: CelEnv, expression: string): CompileCelResult {
  compileCount++;
  if (expression.trim() === '') return { ok: false, message: 'the expression is empty' };
  if (expression.length > MAX_CEL_LENGTH) return { ok: false, message: `expression too long (max ${MAX_CEL_LENGTH} characters)` };
  const { isCelError, parse, plan } = celLibrary();
  let root: Expr;
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(expression);
    root = parsed.expr;
  } catch (err) {
    return syntaxError(err);
  }
  const problems: string[] = [];
  const variables = new Set<CelVariable>();
  const claims = new Set<string>();
  const headers = new Set<string>();
  // Uses of `claims` / `request.headers` against those with a literal key: any difference is a dynamic read.
  const uses = { claims: 0, claimsNamed: 0, headers: 0, headersNamed: 0, query: false };
  const isClaims = (e: Expr | undefined, scope: ReadonlySet<string>): boolean =>
    e?.exprKind.case === 'identExpr' && e.exprKind.value.name === 'claims' && !scope.has('claims');
  const isHeaders = (e: Expr | undefined, scope: ReadonlySet<string>): boolean =>
    e !== undefined && fixedField(e, scope)?.variable === 'request' && e.exprKind.case === 'selectExpr' && e.exprKind.value.field === 'headers';
  const literalKey = (e: Expr | undefined): string | undefined =>
    e?.exprKind.case === 'constExpr' && e.exprKind.value.constantKind.case === 'stringValue' ? e.exprKind.value.constantKind.value : undefined;
  let nodes = 0;
  const walk = (e: Expr | undefined, scope: ReadonlySet<string>, depth: number): void => {
    if (e === undefined || problems.length > 0) return;
    if (++nodes > MAX_CEL_NODES) {
      problems.push(`expression too complex (more than ${MAX_CEL_NODES} nodes)`);
      return;
    }
    const k = e.exprKind;
    switch (k.case) {
      case 'identExpr': {
        const name = k.value.name;
        if (scope.has(name) || TYPE_IDENTS.has(name)) return;
        if (name === 'claims') uses.claims++;
        if ((CEL_VARIABLES as readonly string[]).includes(name)) variables.add(name as CelVariable);
        else problems.push(`unknown variable "${name}"${didYouMean(name, CEL_VARIABLES)} (variables: ${CEL_VARIABLES.join(', ')})`);
        return;
      }
      case 'selectExpr': {
        const fixed = fixedField(e, scope);
        if (fixed !== undefined && !Object.hasOwn(fixed.fields, fixed.field)) {
          const names = Object.keys(fixed.fields);
          problems.push(`${fixed.variable} has no field "${fixed.field}"${didYouMean(fixed.field, names)} (fields: ${names.join(', ')})`);
          return;
        }
        if (fixed?.variable === 'request' && fixed.field === 'headers') uses.headers++;
        if (fixed?.variable === 'request' && fixed.field === 'query') uses.query = true;
        if (isClaims(k.value.operand, scope)) {
          claims.add(k.value.field);
          uses.claimsNamed++;
        } else if (isHeaders(k.value.operand, scope)) {
          headers.add(k.value.field.toLowerCase());
          uses.headersNamed++;
        }
        walk(k.value.operand, scope, depth);
        return;
      }
      case 'callExpr': {
        const fn = k.value.function;
        if (!SPECIAL_CALLS.has(fn) && env.funcs.find(fn) === undefined) {
          problems.push(`unknown function "${fn}"`);
          return;
        }
        // `s.matches(p)` or `matches(s, p)`.
        if (fn === 'matches') checkRegex(k.value.target !== undefined ? k.value.args[0] : k.value.args[1], problems);
        if (fn === '_[_]') {
          const key = literalKey(k.value.args[1]);
          if (key !== undefined && isClaims(k.value.args[0], scope)) {
            claims.add(key);
            uses.claimsNamed++;
          } else if (key !== undefined && isHeaders(k.value.args[0], scope)) {
            headers.add(key.toLowerCase());
            uses.headersNamed++;
          }
        }
        walk(k.value.target, scope, depth);
        for (const a of k.value.args) walk(a, scope, depth);
        return;
      }
      case 'listExpr':
        for (const el of k.value.elements) walk(el, scope, depth);
        return;
      case 'structExpr':
        if (k.value.messageName !== '') {
          problems.push(`message construction (${k.value.messageName}{…}) is not supported`);
          return;
        }
        for (const entry of k.value.entries) {
          if (entry.keyKind.case === 'mapKey') walk(entry.keyKind.value, scope, depth);
          walk(entry.value, scope, depth);
        }
        return;
      case 'comprehensionExpr': {
        const c = k.value;
        if (depth + 1 > MAX_COMPREHENSION_DEPTH) {
          problems.push(`at most ${MAX_COMPREHENSION_DEPTH} nested comprehensions (all, exists, map, filter) are allowed`);
          return;
        }
        walk(c.iterRange, scope, depth);
        walk(c.accuInit, scope, depth);
        const inner = new Set([...scope, c.iterVar, c.accuVar, ...(c.iterVar2 !== '' ? [c.iterVar2] : [])]);
        walk(c.loopCondition, inner, depth + 1);
        walk(c.loopStep, inner, depth + 1);
        walk(c.result, inner, depth + 1);
        return;
      }
      case 'constExpr':
      case undefined:
        return;
      default: {
        const never: never = k;
        problems.push(`unsupported expression ${String(never)}`);
      }
    }
  };
  walk(root, new Set(), 0);
  if (problems[0] !== undefined) return { ok: false, message: problems[0] };
  if (resultKind(root, new Map(), new Set()) === 'other') return { ok: false, message: 'the expression must evaluate to a bool (true/false)' };

  let fn: (bindings: Record<string, CelInput>) => unknown;
  try {
    fn = plan(env, parsed) as (bindings: Record<string, CelInput>) => unknown;
  } catch (err) {
    return { ok: false, message: `cannot plan the expression: ${firstLine(err)}` };
  }
  const typeError = probeTypes(fn, isCelError);
  if (typeError !== undefined) return { ok: false, message: `CEL type error: ${typeError}` };
  return {
    ok: true,
    program: {
      expression,
      variables,
      reads: {
        claims,
        claimsDynamic: uses.claims > uses.claimsNamed,
        headers,
        headersDynamic: uses.headers > uses.headersNamed,
        query: uses.query,
      },
      evaluate(bindings) {
        let value: unknown;
        try {
          value = fn(bindings as Record<string, CelInput>);
        } catch {
          return { ok: false, reason: 'evaluation error' };
        }
        if (typeof value === 'boolean') return { ok: true, value };
        // CEL error messages can quote request data (e.g. a failed int() conversion): never pass them on.
        return { ok: false, reason: isCelError(value) ? 'evaluation error' : 'evaluation error: the result is not a bool' };
      },
    },
  };
}

/**
 * Bindings of the right types for every fixed field (what `request-facts` binds at run time) and empty maps
 * for the open ones (`claims`, `context`, `verification`): any read of an open key is then a "no such key",
 * so an overload or type error the probe meets can only come from the fixed fields and literals — a type
 * error that would fail every request that reaches it.
 */
const PROBE_BINDINGS: Record<string, CelInput> = {
  request: {
    method: 'GET', host: 'shop.example.com', path: '/', query: '', scheme: 'https', headers: {}, sourceIp: '192.0.2.1', country: 'ES',
    principal: 'spiffe://cluster.local/ns/default/sa/default',
  },
  claims: {},
  context: {},
  verification: {},
  risk: { assessed: true, score: 50, signals: ['velocity'] },
};

/** CEL's messages for a call with operand types it has no overload for. */
const TYPE_ERROR_MESSAGE = /no matching overload|no such overload|type mismatch/i;

/**
 * `@bufbuild/cel` 0.6 exports no type checker, so the planned program is run once on {@link PROBE_BINDINGS}:
 * `request.path > 1`, `risk.score > "high"`, `!request.method` or `request.path.startsWith(1)` fail there as
 * they would on every request. Branches the probe does not take are not checked.
 */
function probeTypes(fn: (bindings: Record<string, CelInput>) => unknown, isCelError: typeof CelLibrary.isCelError): string | undefined {
  let value: unknown;
  try {
    value = fn(PROBE_BINDINGS);
  } catch {
    return undefined;
  }
  if (!isCelError(value)) return undefined;
  const message = firstLine(value);
  return TYPE_ERROR_MESSAGE.test(message) ? message : undefined;
}

function syntaxError(err: unknown): CompileCelResult {
  const location = (err as { location?: { start?: { line?: unknown; column?: unknown } } }).location?.start;
  const line = typeof location?.line === 'number' ? location.line : undefined;
  const column = typeof location?.column === 'number' ? location.column : undefined;
  // The parser prefixes "<input>:line:col: "; the position is reported separately.
  const message = firstLine(err).replace(/^<input>:\d+:\d+:\s*/, '');
  return {
    ok: false,
    message: `CEL syntax error${line !== undefined && column !== undefined ? ` at ${line}:${column}` : ''}: ${message}`,
    ...(line !== undefined ? { line } : {}),
    ...(column !== undefined ? { column } : {}),
  };
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n', 1)[0] ?? text;
}

/** A constant pattern that RE2 rejects would fail every request: report it at load. */
function checkRegex(arg: Expr | undefined, problems: string[]): void {
  if (arg?.exprKind.case !== 'constExpr' || arg.exprKind.value.constantKind.case !== 'stringValue') return;
  const { isCelError, run } = celLibrary();
  const r = run('"".matches(p)', { p: arg.exprKind.value.constantKind.value });
  if (isCelError(r)) problems.push(`invalid regular expression: ${firstLine(r)}`);
}

/** What the expression certainly yields: a bool, certainly not a bool, or unknown (depends on data). */
function resultKind(e: Expr | undefined, locals: ReadonlyMap<string, Kind>, scope: ReadonlySet<string>): Kind {
  if (e === undefined) return 'unknown';
  const k = e.exprKind;
  switch (k.case) {
    case 'constExpr':
      return k.value.constantKind.case === 'boolValue' ? 'bool' : 'other';
    case 'listExpr':
    case 'structExpr':
      return 'other';
    case 'identExpr':
      if (locals.has(k.value.name)) return locals.get(k.value.name) ?? 'unknown';
      if (scope.has(k.value.name)) return 'unknown';
      // Every top-level variable is a map.
      return (CEL_VARIABLES as readonly string[]).includes(k.value.name) ? 'other' : 'unknown';
    case 'selectExpr': {
      if (k.value.testOnly) return 'bool';
      const fixed = fixedField(e, scope);
      return fixed === undefined ? 'unknown' : (fixed.fields[fixed.field] ?? 'unknown');
    }
    case 'callExpr': {
      const fn = k.value.function;
      if (fn === '_?_:_') {
        const a = resultKind(k.value.args[1], locals, scope);
        const b = resultKind(k.value.args[2], locals, scope);
        return a === 'other' && b === 'other' ? 'other' : a === 'bool' && b === 'bool' ? 'bool' : 'unknown';
      }
      if (NON_BOOL_CALLS.has(fn)) return 'other';
      return fn === '_[_]' ? 'unknown' : 'bool';
    }
    case 'comprehensionExpr': {
      const c = k.value;
      const inner = new Set([...scope, c.iterVar, c.accuVar, c.iterVar2]);
      return resultKind(c.result, new Map([...locals, [c.accuVar, resultKind(c.accuInit, locals, scope)]]), inner);
    }
    default:
      return 'unknown';
  }
}
