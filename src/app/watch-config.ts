import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../config/config-error.js';
import { configWarnings } from '../config/config-warnings.js';
import { loadConfig } from '../config/load-config.js';
import { readRegularFile } from '../config/read-bounded-file.js';
import type { IdgateConfig, TenantConfig } from '../config/types.js';
import { MAX_CONFIG_LENGTH } from '../config/yaml-document.js';
import { startPolling, type Polling } from '../core/start-polling.js';
import { planReload, type ReloadCapabilities, type ReloadPlan } from './reload-plan.js';

/** Largest platform file the watcher reads, bytes: any document the loader accepts (UTF-8 of its characters). */
const MAX_PLATFORM_READ = 4 * MAX_CONFIG_LENGTH;

/** Why a reload was rejected as a whole (the running config stays). */
export type ReloadRejection = 'empty' | 'invalid' | 'no_routes' | 'apply_failed';

/** What a reload that was not rejected did: `partial` when some tenant's files were rejected (stale or failed). */
export type ReloadResult = 'success' | 'partial' | 'failure';

/**
 * Hot reload: polls the config file's content and its tenant files' (a hash, once per `intervalMs`) rather
 * than trusting file events, because a Kubernetes ConfigMap volume updates by swapping a `..data` symlink, which inotify
 * reports inconsistently. On a change the file is loaded and validated in full, then split by
 * {@link planReload}: reloadable sections are handed to `apply` (which swaps every affected component, or
 * throws and changes nothing); sections that need a restart keep their running value and are reported
 * through `onRefused` with a warning. An empty or comment-only file (a 0-byte ConfigMap is a deployment
 * mistake, not a "deny everything" request), an invalid one, and one with no routes left while the running
 * policy has some (what a file truncated before `policy:` parses to) are rejected whole: the running config
 * stays and `onResult('failure', reason)` is called.
 *
 * A change in any tenant file reloads too, with the running config as `previous`: a tenant whose files are
 * now invalid keeps its last good routes (`stale`) while the platform and the other tenants apply;
 * `onTenants` then reports each tenant's state and `onResult('partial')` is called.
 */
export function watchConfig(
  deps: { logger: Logger; env: NodeJS.ProcessEnv },
  options: {
    path: string;
    initial: IdgateConfig;
    intervalMs?: number;
    capabilities: ReloadCapabilities;
    apply: (plan: ReloadPlan) => void | Promise<void>;
    onResult?: (result: ReloadResult, reason?: ReloadRejection) => void;
    onRefused?: (section: string) => void;
    /** The tenants of an applied reload, and those of the config it replaced. */
    onTenants?: (tenants: readonly TenantConfig[], before: readonly TenantConfig[]) => void;
  },
): Polling {
  let lastHash: string | undefined;
  let running = options.initial;

  const reject = (reason: ReloadRejection, detail: string) => {
    deps.logger.error({ path: options.path, reason, detail }, 'config reload rejected; keeping the current policy');
    options.onResult?.('failure', reason);
  };

  async function check(): Promise<void> {
    let text: Buffer;
    try {
      // Regular files only, through one non-blocking descriptor: a FIFO put in the file's place would
      // otherwise block this read, and every later poll, for good. (The load refuses what is too large.)
      text = readRegularFile(options.path, MAX_PLATFORM_READ, 'configuration file');
    } catch (err) {
      deps.logger.warn({ err, path: options.path }, 'config file unreadable; keeping the current policy');
      return;
    }
    const digest = fingerprint(text, running);
    if (lastHash === undefined) {
      lastHash = digest;
      return;
    }
    if (digest === lastHash) return;
    lastHash = digest;
    if (isBlankDocument(text.toString('utf8'))) {
      reject('empty', 'the configuration file is empty or holds only comments (a deployment mistake?)');
      return;
    }
    let next: IdgateConfig;
    // What this load read of each tenant file: the fingerprint of a new tenant list is taken from it.
    const used = new Map<string, Buffer | Error>();
    try {
      next = await loadConfig(options.path, { env: deps.env, previous: running, onTenantRead: (file, read) => used.set(file, read) });
    } catch (err) {
      reject('invalid', err instanceof ConfigError ? err.format() : String(err));
      return;
    }
    if (policySize(next) === 0 && policySize(running) > 0) {
      // What a file cut off before `policy:` parses to; denying everything deliberately takes a restart.
      reject('no_routes', 'the new configuration has no policy routes (a truncated file?); restart to apply a route-less policy');
      return;
    }
    const plan = planReload(running, next, options.capabilities);
    try {
      await options.apply(plan);
    } catch (err) {
      reject('apply_failed', err instanceof ConfigError ? err.format() : String((err as Error)?.message ?? err));
      return;
    }
    const before = running.policy.tenants;
    running = plan.effective;
    if (tenantFiles(before) !== tenantFiles(running.policy.tenants)) {
      // The fingerprint covers the running config's tenant files: take the new list in now, or the next
      // poll would see a "change" that is only the list itself. Over the versions the load used, not the
      // files as they are now: a team's edit landing after the load's read is then still a change.
      lastHash = fingerprint(text, running, used);
    }
    options.onTenants?.(running.policy.tenants, before);
    for (const section of plan.refused) {
      deps.logger.warn(
        { path: options.path, section, restartRequired: true },
        `config section "${section}" changed but cannot be applied to a running process: restart required; keeping the running value`,
      );
      options.onRefused?.(section);
    }
    for (const w of configWarnings(running)) deps.logger.warn({ path: w.path }, `config warning: ${w.path} ${w.message}`);
    options.onResult?.(running.policy.tenants.every((t) => t.status === 'ok') ? 'success' : 'partial');
    const { tenants } = running.policy;
    deps.logger.info(
      {
        path: options.path,
        applied: plan.applied,
        ...(plan.refused.length > 0 ? { restartRequiredFor: plan.refused } : {}),
        // Which version of each layer now serves: `<status>@<revision>` per tenant.
        ...(tenants.length > 0 ? { revision: running.policy.revision, tenants: Object.fromEntries(tenants.map((t) => [t.name, `${t.status}@${t.revision}`])) } : {}),
      },
      plan.refused.length > 0 ? 'policy reloaded; other changed sections apply after a restart' : 'policy reloaded',
    );
  }

  return startPolling(check, { intervalMs: options.intervalMs ?? 1_000, runNow: true });
}

/**
 * What a change is detected on: the platform file's bytes and the running config's tenant files, so
 * editing one team's file reloads as editing the platform file does. `used`: what a load read of some of
 * those files, hashed instead of reading them again.
 */
function fingerprint(platform: Buffer, running: IdgateConfig, used?: ReadonlyMap<string, Buffer | Error>): string {
  const hash = createHash('sha256').update(platform);
  for (const tenant of running.policy.tenants) {
    for (const file of tenant.files) {
      // The file's path and bytes, or why it cannot be read (so a file that appears, disappears or is
      // fixed counts as a change).
      hash.update(`\0${file}\0`);
      const read = used?.get(file) ?? readTenantFile(file);
      if (read instanceof Error) {
        const code = (read as { code?: unknown }).code;
        hash.update(`error ${typeof code === 'string' ? code : read.message}`);
      } else {
        hash.update(read);
      }
    }
  }
  return hash.digest('hex');
}

/**
 * A tenant file as the loader reads it (bounded, regular files only, check and read on one descriptor): a
 * FIFO swapped in between a stat and a read would otherwise block the poll, and hot reload with it, for good.
 */
function readTenantFile(file: string): Buffer | Error {
  try {
    return readRegularFile(file, MAX_CONFIG_LENGTH, 'tenant file');
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

function tenantFiles(tenants: readonly TenantConfig[]): string {
  return JSON.stringify(tenants.map((t) => t.files));
}

/** Routes, guardrails and tenants a config declares: 0 is what a file cut off before `policy:` parses to. */
function policySize(config: IdgateConfig): number {
  const p = config.policy;
  return p.routes.length + p.defaults.routes.length + p.guardrails.length + p.tenants.length;
}

/** True for a document with no content: 0 bytes, whitespace, comments, bare document markers or `null`. */
function isBlankDocument(text: string): boolean {
  if (text.trim() === '') return true;
  try {
    const value: unknown = parseYaml(text);
    return value === null || value === undefined;
  } catch {
    return false; // a syntax error is reported by the full load, with its line
  }
}
