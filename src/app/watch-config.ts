import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { ConfigError } from '../config/config-error.js';
import { loadConfig } from '../config/load-config.js';
import type { IdgateConfig } from '../config/types.js';

/** Sections that are applied only at start; a change to them is logged as needing a restart. */
const RESTART_SECTIONS = ['server', 'issuers', 'store', 'didit', 'network', 'logging', 'demoIssuer', 'headers'] as const;

/**
 * Hot reload: polls the config file's content (a hash, once per `intervalMs`) rather than trusting file
 * events, because a Kubernetes ConfigMap volume updates by swapping a `..data` symlink, which inotify
 * reports inconsistently. On a change the file is loaded and validated in full; only a valid config is
 * handed to `apply` (which swaps the compiled policy atomically); an invalid one keeps the old policy and
 * is reported through `onResult(false)`.
 */
export function watchConfig(
  deps: { logger: Logger; env: NodeJS.ProcessEnv },
  options: {
    path: string;
    initial: IdgateConfig;
    intervalMs?: number;
    apply: (config: IdgateConfig) => void;
    onResult?: (ok: boolean) => void;
  },
): { stop(): void; checkNow(): Promise<void> } {
  let lastHash: string | undefined;
  let previous = options.initial;
  let running = false;

  async function checkNow(): Promise<void> {
    if (running) return;
    running = true;
    try {
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
      let next: IdgateConfig;
      try {
        next = await loadConfig(options.path, { env: deps.env });
        options.apply(next);
      } catch (err) {
        const detail = err instanceof ConfigError ? err.format() : String(err);
        deps.logger.error({ path: options.path, detail }, 'config reload rejected; keeping the current policy');
        options.onResult?.(false);
        return;
      }
      const needRestart: string[] = RESTART_SECTIONS.filter((k) => JSON.stringify(previous[k]) !== JSON.stringify(next[k]));
      // Risk weights and windows follow a reload; switching risk on or off rewires the engine.
      if (previous.risk?.enabled !== next.risk?.enabled) needRestart.push('risk.enabled');
      previous = next;
      options.onResult?.(true);
      deps.logger.info(
        { path: options.path, ...(needRestart.length > 0 ? { restartRequiredFor: needRestart } : {}) },
        needRestart.length > 0 ? 'policy reloaded; other changed sections apply after a restart' : 'policy reloaded',
      );
    } finally {
      running = false;
    }
  }

  void checkNow();
  const timer = setInterval(() => void checkNow(), options.intervalMs ?? 1_000);
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    checkNow,
  };
}
