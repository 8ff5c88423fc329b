import { createHmac, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Logger } from 'pino';
import { serializePythonJson } from '../didit/python-json.js';
import type { SessionStatus } from '../core/verdict.js';

/** One webhook delivery attempt, as the sandbox's "Deliveries" log shows it. */
export interface SandboxDelivery {
  readonly eventId: string;
  readonly sessionId: string;
  readonly status: SessionStatus;
  readonly webhookType: string;
  /** 1 for the first attempt, 2 and 3 for the retries. */
  readonly attempt: number;
  readonly url: string;
  /** When the attempt was sent (sandbox clock, epoch ms). */
  readonly at: number;
  /** The receiver's HTTP status, if it answered. */
  readonly statusCode?: number;
  /** Set when there was no answer. */
  readonly error?: 'timeout' | 'connection';
  /** `delivered` (2xx), `retrying` (another attempt is scheduled) or `failed` (final). */
  readonly outcome: 'delivered' | 'retrying' | 'failed';
  /** The exact body bytes sent (UTF-8; all ASCII because of the escaping). */
  readonly body: string;
  /** The request headers sent, lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
}

/** Options of {@link WebhookDispatcher}. */
export interface WebhookDispatcherOptions {
  readonly logger: Logger;
  readonly secret: string;
  readonly clock: () => number;
  /** Waits before the retries (Didit: about 1 min, then about 4 min). */
  readonly retryDelaysMs: readonly number[];
  /** Timeout of one attempt (Didit: 5 s). */
  readonly timeoutMs: number;
  /** `same` (default) keeps the event id across retries; `fresh` gives every attempt a new one. */
  readonly retryEventId: 'same' | 'fresh';
  /** Called for every attempt. */
  readonly onAttempt: (delivery: SandboxDelivery) => void;
}

/** Didit's signing of one body: the exact bytes and the four headers that go with them. */
export interface SignedWebhook {
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

const USER_AGENT = 'DiditWebhook/2.0 +https://didit.me';

function hmacHex(secret: string, message: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(Buffer.from(message, 'utf8')).digest('hex');
}

/**
 * Serialises and signs a webhook payload exactly as Didit does: the body is compact JSON with sorted keys
 * and ASCII escaping (Python `ensure_ascii=True`); `X-Signature` covers those bytes, `X-Signature-V2` the
 * same document with non-ASCII unescaped, `X-Signature-Simple` `timestamp:session_id:status:webhook_type`.
 */
export function signWebhook(secret: string, payload: Readonly<Record<string, unknown>>): SignedWebhook {
  const body = serializePythonJson(payload, { ensureAscii: true });
  const canonical = serializePythonJson(payload, { ensureAscii: false });
  const part = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
  const simple = [payload.timestamp, payload.session_id, payload.status, payload.webhook_type].map(part).join(':');
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'x-signature': hmacHex(secret, body),
      'x-signature-v2': hmacHex(secret, canonical),
      'x-signature-simple': hmacHex(secret, simple),
      'x-timestamp': part(payload.timestamp),
    },
  };
}

/**
 * Delivers signed webhooks with Didit's retry policy: 2xx is success; 5xx, 404, a timeout or a connection
 * failure is retried after `retryDelaysMs[0]` and then `retryDelaysMs[1]` (three attempts in all); any
 * other status (3xx, other 4xx) is final. Each retry is re-signed with a fresh `timestamp` (body and
 * `X-Timestamp` agree, as in observed deliveries), so a receiver's 5-minute window never rejects it.
 * Owns timers and sockets: {@link close} cancels pending retries and in-flight requests.
 */
export class WebhookDispatcher {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<http.ClientRequest>();
  private closed = false;
  private readonly log: Logger;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.log = options.logger.child({ component: 'didit-sandbox-webhooks' });
  }

  /**
   * Sends `payload` (without `event_id`/`timestamp`, which are set per attempt) to `url`.
   * @returns the first attempt's record, once that attempt finished (retries continue in the background).
   */
  dispatch(url: string, payload: Readonly<Record<string, unknown>>): Promise<SandboxDelivery> {
    return this.attempt(url, payload, randomUUID(), 1);
  }

  /** Cancels pending retries and aborts requests in flight. */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const req of this.inFlight) req.destroy();
    this.inFlight.clear();
  }

  private async attempt(url: string, payload: Readonly<Record<string, unknown>>, eventId: string, attempt: number): Promise<SandboxDelivery> {
    const now = this.options.clock();
    const full = { ...payload, event_id: eventId, timestamp: Math.floor(now / 1000) };
    const signed = signWebhook(this.options.secret, full);
    const answer = await this.post(url, signed);
    const retryable = answer.statusCode === undefined || answer.statusCode >= 500 || answer.statusCode === 404;
    const delivered = answer.statusCode !== undefined && answer.statusCode >= 200 && answer.statusCode < 300;
    const delay = this.options.retryDelaysMs[attempt - 1];
    const willRetry = !delivered && retryable && delay !== undefined && !this.closed;
    const record: SandboxDelivery = {
      eventId,
      sessionId: String(payload.session_id),
      status: payload.status as SessionStatus,
      webhookType: String(payload.webhook_type),
      attempt,
      url,
      at: now,
      ...(answer.statusCode === undefined ? {} : { statusCode: answer.statusCode }),
      ...(answer.error === undefined ? {} : { error: answer.error }),
      outcome: delivered ? 'delivered' : willRetry ? 'retrying' : 'failed',
      body: signed.body,
      headers: signed.headers,
    };
    this.options.onAttempt(record);
    this.log.info(
      { sessionId: record.sessionId, status: record.status, attempt, statusCode: answer.statusCode, error: answer.error, outcome: record.outcome },
      'sandbox webhook attempt',
    );
    if (willRetry) {
      const nextId = this.options.retryEventId === 'fresh' ? randomUUID() : eventId;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!this.closed) void this.attempt(url, payload, nextId, attempt + 1);
      }, delay);
      this.timers.add(timer);
    }
    return record;
  }

  private post(url: string, signed: SignedWebhook): Promise<{ statusCode?: number; error?: 'timeout' | 'connection' }> {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve({ error: 'connection' });
        return;
      }
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        resolve({ error: 'connection' });
        return;
      }
      const transport = target.protocol === 'https:' ? https : http;
      const body = Buffer.from(signed.body, 'utf8');
      let settled = false;
      const finish = (result: { statusCode?: number; error?: 'timeout' | 'connection' }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inFlight.delete(req);
        resolve(result);
      };
      const req = transport.request(target, {
        method: 'POST',
        headers: { ...signed.headers, 'content-length': String(body.length) },
        agent: false,
      });
      this.inFlight.add(req);
      const timer = setTimeout(() => {
        finish({ error: 'timeout' });
        req.destroy();
      }, this.options.timeoutMs);
      req.on('response', (res) => {
        const statusCode = res.statusCode ?? 0;
        // The answer's body is irrelevant; read a little so the socket can close cleanly, then stop.
        let seen = 0;
        res.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen > 64 * 1024) res.destroy();
        });
        res.on('end', () => finish({ statusCode }));
        res.on('close', () => finish({ statusCode }));
        res.on('error', () => finish({ statusCode }));
      });
      req.on('error', () => finish({ error: 'connection' }));
      req.end(body);
    });
  }
}
