import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../config/config-error.js';
import { configWarnings } from '../config/config-warnings.js';
import { loadConfig } from '../config/load-config.js';
import type { IdgateConfig } from '../config/types.js';
import { startPolling, type Polling } from '../core/start-polling.js';
import { planReload, type ReloadCapabilities, type ReloadPlan } from './reload-plan.js';

/** Why a reload was rejected as a whole (the running config stays). */
export type ReloadRejection = 'empty' | 'invalid' | 'no_routes' | 'apply_failed';

/**
 * Hot reload: polls the config file's content (a hash, once per `intervalMs`) rather than trusting file
 * events, because a Kubernetes ConfigMap volume updates by swapping a `..data` symlink, which inotify
 * reports inconsistently. On a change the file is loaded and validated in full, then split by
 * {@link planReload}: reloadable sections are handed to `apply` (which swaps every affected component, or
 * throws and changes nothing); sections that need a restart keep their running value and are reported
 * through `onRefused` with a warning. An empty or comment-only file (a 0-byte ConfigMap is a deployment
 * mistake, not a "deny everything" request), an invalid one, and one with no routes left while the running
 * policy has some (what a file truncated before `policy:` parses to) are rejected whole: the running config
 * stays and `onResult(false, reason)` is called.
 */
export function watchConfig(
  deps: { logger: Logger; env: NodeJS.ProcessEnv },
  options: {
    path: string;
    initial: IdgateConfig;
    intervalMs?: number;
    capabilities: ReloadCapabilities;
    apply: (plan: ReloadPlan) => void | Promise<void>;
    onResult?: (ok: boolean, reason?: ReloadRejection) => void;
    onRefused?: (section: string) => void;
  },
): Polling {
  let lastHash: string | undefined;
  let running = options.initial;

  const reject = (reason: ReloadRejection, detail: string) => {
    deps.logger.error({ path: options.path, reason, detail }, 'config reload rejected; keeping the current policy');
    options.onResult?.(false, reason);
  };

  async function check(): Promise<void> {
    let text: Buffer;
    try {
      text = await readFile(options.path);
    } catch (err) {
      deps.logger.warn({ err, path: options.path }, 'config file unreadable; keeping the current policy');
      return;
    }
    const hash = createHash('sha256').update(text).digest('hex');
    if (lastHash === undefined) {
      lastHash = hash;
      return;
    }
    if (hash === lastHash) return;
    lastHash = hash;
    if (isBlankDocument(text.toString('utf8'))) {
      reject('empty', 'the configuration file is empty or holds only comments (a deployment mistake?)');
      return;
    }
    let next: IdgateConfig;
    try {
      next = await loadConfig(options.path, { env: deps.env });
    } catch (err) {
      reject('invalid', err instanceof ConfigError ? err.format() : String(err));
      return;
    }
    if (next.policy.routes.length === 0 && running.policy.routes.length > 0) {
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
    running = plan.effective;
    for (const section of plan.refused) {
      deps.logger.warn(
        { path: options.path, section, restartRequired: true },
        `config section "${section}" changed but cannot be applied to a running process: restart required; keeping the running value`,
      );
      options.onRefused?.(section);
    }
    for (const w of configWarnings(running)) deps.logger.warn({ path: w.path }, `config warning: ${w.path} ${w.message}`);
    options.onResult?.(true);
    deps.logger.info(
      { path: options.path, applied: plan.applied, ...(plan.refused.length > 0 ? { restartRequiredFor: plan.refused } : {}) },
      plan.refused.length > 0 ? 'policy reloaded; other changed sections apply after a restart' : 'policy reloaded',
    );
  }

  return startPolling(check, { intervalMs: options.intervalMs ?? 1_000, runNow: true });
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
