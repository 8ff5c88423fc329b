/** How a secret is written in YAML: an environment variable, a file (e.g. a mounted Kubernetes Secret), or — sandbox only — a literal. */
export type SecretRef = { readonly env: string } | { readonly file: string } | string;

/** Where secret references are resolved from; injected so that only the composition root touches the process. */
export interface SecretSources {
  /** Environment variables (the composition root passes `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reads a secret file as UTF-8 text; throws when it cannot. Absent = `{ file }` references are an error. */
  readonly readFile?: (path: string) => string;
}

/** Longest secret accepted, characters. */
const MAX_SECRET_LENGTH = 16 * 1024;

/**
 * Resolves a secret reference. File contents lose one trailing newline (as `kubectl create secret
 * --from-file` and editors leave one); environment values are taken as they are.
 *
 * @returns `{ value }` or `{ error }` naming the variable or file that could not be used — never the secret.
 */
export function resolveSecret(ref: unknown, sources: SecretSources): { value: string } | { error: string } {
  if (typeof ref === 'string') return checked(ref, 'literal secret');
  if (ref === null || typeof ref !== 'object' || Array.isArray(ref)) {
    return { error: 'expected a secret reference: { env: NAME } or { file: /path }' };
  }
  const keys = Object.keys(ref);
  const record = ref as Record<string, unknown>;
  if (keys.length !== 1 || (keys[0] !== 'env' && keys[0] !== 'file')) {
    return { error: 'a secret reference has exactly one key: env or file' };
  }
  if (keys[0] === 'env') {
    const name = record['env'];
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      return { error: 'env must be an environment variable name' };
    }
    const value = Object.hasOwn(sources.env, name) ? sources.env[name] : undefined;
    if (value === undefined || value === '') return { error: `environment variable ${name} is not set` };
    return checked(value, `environment variable ${name}`);
  }
  const file = record['file'];
  if (typeof file !== 'string' || !file.startsWith('/')) return { error: 'file must be an absolute path' };
  if (sources.readFile === undefined) return { error: `cannot read secret file ${file}: file secrets are not available here` };
  let text: string;
  try {
    text = sources.readFile(file);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { error: `cannot read secret file ${file}${typeof code === 'string' ? ` (${code})` : ''}` };
  }
  return checked(text.replace(/\r?\n$/, ''), `secret file ${file}`);
}

function checked(value: string, what: string): { value: string } | { error: string } {
  if (value === '') return { error: `${what} is empty` };
  if (value.length > MAX_SECRET_LENGTH) return { error: `${what} is too long` };
  return { value };
}
