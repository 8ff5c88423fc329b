import type * as http from 'node:http';
import { sendDiditJson } from './send-didit-json.js';

/** A fault the API answers instead of (or before) its normal response; see `DiditSandbox.injectApiFaults`. */
export interface SandboxApiFault {
  /**
   * Answer with this status: 500 (an HTML body, as a crashing server would), 429 (with rate-limit headers)
   * or 400 (Didit's validation answer, as when our request is wrong).
   */
  readonly status?: 500 | 429 | 400;
  /** `Retry-After` seconds for a 429 (default 1). */
  readonly retryAfter?: number;
  /** How many API requests this applies to. */
  readonly count: number;
  /** Wait this long before answering (or before handling normally when no status/reset is given). */
  readonly delayMs?: number;
  /** Drop the connection without answering. */
  readonly reset?: boolean;
}

/**
 * The sandbox's injected misbehaviour: queued API faults and the latency of session creation. Owns the
 * timers of its delays, so {@link close} leaves nothing pending.
 */
export class SandboxFaults {
  private queue: { fault: SandboxApiFault; left: number }[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private createDelay = 0;

  /** Latency of every session creation, ms (0 = none). */
  get createDelayMs(): number {
    return this.createDelay;
  }

  /** @throws TypeError for a negative or non-finite delay. */
  setCreateDelay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new TypeError('create delay must be a non-negative number');
    this.createDelay = ms;
  }

  /** The next `fault.count` API requests get `fault`; faults queue up in the order injected. */
  inject(fault: SandboxApiFault): void {
    if (fault.count > 0) this.queue.push({ fault, left: fault.count });
  }

  /** The fault of this API request, counting it down; undefined when none is queued. */
  take(): SandboxApiFault | undefined {
    const head = this.queue[0];
    if (head === undefined) return undefined;
    head.left--;
    if (head.left <= 0) this.queue.shift();
    return head.fault;
  }

  /** Resolves after `ms`; {@link close} cancels it (the promise then never settles, as the server is gone). */
  pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/**
 * Plays `fault` on an API request: waits its delay, then drops the connection or answers with its status.
 * `createLimit` is the `X-RateLimit-Limit` of a faked 429.
 * @returns true when the request is done with (answered, dropped or gone); false to handle it normally.
 */
export async function playApiFault(
  fault: SandboxApiFault,
  faults: SandboxFaults,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  createLimit: number,
  clock: () => number,
): Promise<boolean> {
  if (fault.delayMs !== undefined && fault.delayMs > 0) await faults.pause(fault.delayMs);
  if (res.destroyed) return true;
  if (fault.reset === true) {
    req.socket.destroy();
    return true;
  }
  if (fault.status === 500) {
    res.writeHead(500, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<h1>Server Error (500)</h1>');
    return true;
  }
  if (fault.status === 400) {
    sendDiditJson(res, 400, { workflow_id: ['This field is invalid.'] });
    return true;
  }
  if (fault.status === 429) {
    const retryAfter = fault.retryAfter ?? 1;
    sendDiditJson(res, 429, { detail: `Request was throttled. Expected available in ${retryAfter} seconds.` }, {
      'retry-after': String(retryAfter),
      'x-ratelimit-limit': String(createLimit),
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(Math.ceil(clock() / 1000) + retryAfter),
    });
    return true;
  }
  return false;
}
