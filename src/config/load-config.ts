import { readFile } from 'node:fs/promises';
import { closeSync, openSync, readSync } from 'node:fs';
import { ConfigError } from './config-error.js';
import { parseConfig } from './parse-config.js';
import type { IdgateConfig } from './types.js';

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Environment for `{ env: NAME }` secret references (the composition root passes `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Largest secret file read, bytes. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/**
 * Reads and validates a configuration file; `{ file: /path }` secrets are read from the local filesystem.
 *
 * @returns the deep-frozen configuration.
 * @throws {ConfigError} when the file cannot be read or is invalid (all issues at once, with line and column).
 */
export async function loadConfig(path: string, options: LoadConfigOptions): Promise<IdgateConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new ConfigError(path, [{ path: '', message: `cannot read the configuration file${typeof code === 'string' ? ` (${code})` : ''}` }]);
  }
  return parseConfig(text, { sourceName: path, env: options.env, readFile: readSecretFile });
}

/** Reads at most {@link MAX_SECRET_FILE_BYTES}; a larger file is an error rather than a truncated secret. */
function readSecretFile(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > MAX_SECRET_FILE_BYTES) throw Object.assign(new Error('secret file too large'), { code: 'EFBIG' });
    }
    return buf.subarray(0, length).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
