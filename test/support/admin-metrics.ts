import { setTimeout as sleep } from 'node:timers/promises';

/** The value of one exposition line (`name{labels}`) on an idgate admin port's /metrics; 0 when absent. */
export async function readMetric(adminPort: number | undefined, line: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

/** Polls `pred` every 50 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitUntil(pred: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
