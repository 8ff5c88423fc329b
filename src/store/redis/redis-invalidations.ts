import type { Logger } from 'pino';
import { InvalidationListeners } from '../invalidation-listeners.js';
import { decodeInvalidation } from '../store-codec.js';
import type { RedisClient } from './redis-connection.js';
import { watchConnection } from './redis-connection.js';

/** Pause before a failed SUBSCRIBE is tried again. */
const SUBSCRIBE_RETRY_MS = 1_000;

/**
 * Invalidations from every replica over Redis pub/sub on `subscriber` (a connection of its own: a
 * subscribed connection can run no other command). After a reconnect it announces "anything may have
 * changed", because events published while it was away are lost. Without a subscriber (a write-only
 * tool) listeners are kept but never called.
 */
export class RedisInvalidations extends InvalidationListeners {
  #subscribed = false;
  #subscriber: RedisClient | undefined;

  constructor(logger: Logger, subscriber: RedisClient | undefined, channel: string) {
    super(logger);
    if (subscriber) this.#start(logger, subscriber, channel);
  }

  /**
   * Whether events from other replicas are arriving now: the SUBSCRIBE was acknowledged and the subscriber
   * connection is ready (while it reconnects, published events are lost).
   */
  get live(): boolean {
    return this.#subscribed && this.#subscriber?.status === 'ready';
  }

  #start(logger: Logger, sub: RedisClient, channel: string): void {
    this.#subscriber = sub;
    watchConnection(logger, sub, 'subscriber');
    let readyOnce = false;
    sub.on('ready', () => {
      // After a reconnect, events published while we were away are lost: drop everything cached.
      if (readyOnce) this.emit(undefined);
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
    // A failed SUBSCRIBE (e.g. a command timeout on a loaded Redis) is retried: ioredis only re-subscribes
    // channels it was subscribed to, so without a retry the replica would never hear another replica's
    // revocation (its cache is bypassed meanwhile, see `live`).
    const subscribe = (): void => {
      sub.subscribe(channel).then(
        () => {
          this.#subscribed = true;
        },
        (err: unknown) => {
          logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'invalidation subscribe failed; retrying in 1 s');
          if (sub.status !== 'end') setTimeout(subscribe, SUBSCRIBE_RETRY_MS).unref();
        },
      );
    };
    subscribe();
  }
}
