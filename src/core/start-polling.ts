/** A running poll: `checkNow()` runs one check at once (tests, or a caller that knows something changed). */
export interface Polling {
  stop(): void;
  checkNow(): Promise<void>;
}

/**
 * Runs `check` every `intervalMs` (and once at start with `runNow`), never two at once: a check that is
 * due while the previous one still runs is skipped, so a slow file system cannot pile checks up. The
 * timer is unref'd: polling never keeps a process alive. `check` handles its own errors.
 */
export function startPolling(check: () => Promise<void>, options: { intervalMs: number; runNow?: boolean }): Polling {
  let busy = false;
  async function checkNow(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      await check();
    } finally {
      busy = false;
    }
  }
  if (options.runNow === true) void checkNow();
  const timer = setInterval(() => void checkNow(), options.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), checkNow };
}
