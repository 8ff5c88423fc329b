import type { Logger } from 'pino';
import type { InvalidationListener, Invalidations } from './invalidations.js';

/**
 * The listener set behind {@link Invalidations} on both backends: a listener that throws is logged and the
 * others are still called (one broken cache must not keep the others stale).
 */
export class InvalidationListeners implements Invalidations {
  readonly #listeners = new Set<InvalidationListener>();

  constructor(private readonly logger: Logger) {}

  onInvalidate(listener: InvalidationListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  emit(subject: string | undefined, workflow?: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(subject, workflow);
      } catch (err) {
        this.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'invalidation listener threw');
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}
