import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { constants, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { ConfigError } from './config-error.js';
import { parseConfig } from './parse-config.js';
import { readBoundedFile, readRegularFile } from './read-bounded-file.js';
import { revisionOf } from './resolve-tenants.js';
import type { IdgateConfig } from './types.js';
import { MAX_CONFIG_LENGTH } from './yaml-document.js';

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Environment for `{ env: NAME }` secret references (the composition root passes `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * The running configuration (on a reload): a tenant whose files are now invalid or unreadable keeps its
   * routes from here (`stale`) instead of failing (denying everything it owns).
   */
  readonly previous?: IdgateConfig;
  /**
   * Told what each tenant file read gave — its bytes, or why it could not be read — as the load reads it:
   * lets the hot-reload watcher fingerprint exactly the versions this load used, not a later one.
   */
  readonly onTenantRead?: (path: string, read: Buffer | Error) => void;
}

/** Largest secret file read, bytes. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/**
 * Reads and validates a configuration file and its tenants' files; `{ file: /path }` secrets are read
 * from the local filesystem. Tenant files are read relative to the platform file's directory and must
 * resolve (symlinks followed) inside it; each is bounded like the platform file.
 *
 * @returns the deep-frozen configuration. A tenant whose files fail does not fail the load: it is `stale`
 *   or `failed` in `policy.tenants`, with its error.
 * @throws {ConfigError} when the platform file cannot be read or is invalid (all issues at once, with line and column).
 */
export async function loadConfig(path: string, options: LoadConfigOptions): Promise<IdgateConfig> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new ConfigError(path, [{ path: '', message: `cannot read the configuration file${typeof code === 'string' ? ` (${code})` : ''}` }]);
  }
  const baseDir = resolve(dirname(path));
  return parseConfig(bytes.toString('utf8'), {
    sourceName: path,
    env: options.env,
    readFile: (p) => readBoundedFile(p, MAX_SECRET_FILE_BYTES, 'secret file').toString('utf8'),
    baseDir,
    readTenantFile: (p) => {
      let read: Buffer;
      try {
        read = readTenantFile(baseDir, p);
      } catch (err) {
        options.onTenantRead?.(p, err instanceof Error ? err : new Error(String(err)));
        throw err;
      }
      options.onTenantRead?.(p, read);
      return read;
    },
    revision: revisionOf(createHash('sha256').update(bytes)),
    ...(options.previous !== undefined ? { previous: options.previous } : {}),
  });
}

/**
 * Reads a tenant file only when its real path (every symlink followed, as a Kubernetes ConfigMap's
 * `..data` links are) lies inside the platform file's real directory: a team's file can never lead idgate
 * to read `/etc/passwd` or another team's mount outside it. A symlink loop fails with `ELOOP`; a FIFO,
 * device or directory is refused.
 *
 * The checked real path is opened without following a last symlink, so a link swapped in after the check
 * (`ELOOP`: the team is stale this time, and the changed fingerprint reloads it on the next poll) cannot
 * lead the read elsewhere; the regular-file check and the read share one descriptor (no FIFO swapped in
 * between can block the load).
 */
function readTenantFile(baseDir: string, path: string): Buffer {
  const real = realpathSync(path);
  const rel = relative(realpathSync(baseDir), real);
  // `..2026_01_01/x.yaml` (a ConfigMap's timestamped directory) is inside; `../x.yaml` is not.
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new Error("it resolves (through a symlink) outside the platform file's directory");
  }
  // A FIFO would block the load forever, a device never end: only regular files are read.
  return readRegularFile(real, MAX_CONFIG_LENGTH, 'tenant file', constants.O_NOFOLLOW);
}
