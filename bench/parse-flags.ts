import { parseArgs } from 'node:util';

/** Flag kinds understood by {@link parseFlags}. */
export type FlagKind = 'string' | 'boolean';

/** The parsed flags: strings for string flags, booleans for boolean flags, absent when not given. */
export type ParsedFlags<T extends Record<string, FlagKind>> = {
  [K in keyof T]?: T[K] extends 'boolean' ? boolean : string;
};

/**
 * Parses `--name value` / `--name=value` / `--flag` command-line flags strictly (node:util parseArgs).
 * @throws TypeError (ERR_PARSE_ARGS_UNKNOWN_OPTION…) on an unknown flag or a missing value.
 */
export function parseFlags<T extends Record<string, FlagKind>>(argv: readonly string[], spec: T): ParsedFlags<T> {
  const options: Record<string, { type: FlagKind }> = {};
  for (const [name, type] of Object.entries(spec)) options[name] = { type };
  const { values } = parseArgs({ args: [...argv], options, allowPositionals: false, strict: true });
  return values as ParsedFlags<T>;
}
