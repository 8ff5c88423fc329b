import type { Logger } from 'pino';
import { InvalidationListeners } from '../invalidation-listeners.js';
import { decodeInvalidation } from '../store-codec.js';
import type { RedisClient } from './redis-connection.js';

/** Pause before a failed SUBSCRIBE is tried again. */
const SUBSCRIBE_RETRY_MS = 1_000;

/**
 * Invalidations from every replica over Redis pub/sub on `subscriber` (a connection of its own: a
 * subscribed connection can run no other command). After a reconnect it announces "anything may have
 * changed", because events published while it was away are lost, and subscribes again itself. Without a
 * subscriber (a write-only tool) listeners are kept but never called.
 *
 * Every SUBSCRIBE is sent from here, its failure handled (logged, retried): the store turns ioredis's own
 * re-subscription off (`autoResubscribe: false`), because ioredis sends that SUBSCRIBE at `ready` and holds
 * its promise nowhere — a refused one (NOPERM) or one still unanswered when the connection closed (a `close()`
 * during the reconnect: "Connection is closed.") was an unhandled rejection, and a refused one also left
 * {@link live} true while nothing was heard. A Cluster re-subscribes its subscriber node itself (its
 * promises handled); a Cluster that reconnected as a whole is subscribed again here too (a repeated
 * SUBSCRIBE to the same channel is a no-op).
 */
export class RedisInvalidations extends InvalidationListeners {
  #subscribed = false;
  #subscribing = false;
  #stopped = false;
  #retry: NodeJS.Timeout | undefined;
  #subscriber: RedisClient | undefined;

  constructor(logger: Logger, subscriber: RedisClient | undefined, channel: string) {
    super(logger);
    if (subscriber) this.#start(logger, subscriber, channel);
  }

  /**
   * Whether events from other replicas are arriving now: the SUBSCRIBE of this connection was acknowledged
   * and the subscriber connection is ready (while it reconnects, published events are lost).
   */
  get live(): boolean {
    return this.#subscribed && this.#subscriber?.status === 'ready';
  }

  /** No more subscribing (the store is closing), and no listener is called again. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.clear();
  }

  #start(logger: Logger, sub: RedisClient, channel: string): void {
    this.#subscriber = sub;
    // A failed SUBSCRIBE (e.g. a command timeout on a loaded Redis, a refused channel) is retried: without a
    // retry the replica would never hear another replica's revocation (its cache is bypassed meanwhile, see
    // `live`).
    const subscribe = (): void => {
      clearTimeout(this.#retry);
      this.#retry = undefined;
      if (this.#stopped) return;
      this.#subscribing = true;
      const failed = (err: unknown): void => {
        this.#subscribing = false;
        if (this.#stopped) return;
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'invalidation subscribe failed; retrying in 1 s');
        if (sub.status !== 'end') this.#retry = setTimeout(subscribe, SUBSCRIBE_RETRY_MS).unref();
      };
      let acknowledged: Promise<unknown>;
      try {
        acknowledged = sub.subscribe(channel);
      } catch (err) {
        // Called from a `ready` listener too: a throw there would escape into ioredis's event emit.
        failed(err);
        return;
      }
      acknowledged.then(() => {
        this.#subscribing = false;
        this.#subscribed = true;
      }, failed);
    };
    let readyOnce = false;
    sub.on('ready', () => {
      if (readyOnce) {
        // After a reconnect, events published while we were away are lost: drop everything cached, and
        // cache nothing until this connection's own SUBSCRIBE is acknowledged.
        this.#subscribed = false;
        this.emit(undefined);
        subscribe();
      } else if (!this.#subscribed && !this.#subscribing && this.#retry === undefined) {
        // The first SUBSCRIBE failed while the client had ended (no retry then) and it was revived.
        subscribe();
      }
      readyOnce = true;
    });
    sub.on('message', (ch: string, message: string) => {
      if (ch !== channel) return;
      const event = decodeInvalidation(message);
      if (event === undefined) {
        logger.warn('malformed invalidation message ignored');
        return;
      }
      this.emit(event.subject, event.workflow);
    });
    subscribe();
  }
}
