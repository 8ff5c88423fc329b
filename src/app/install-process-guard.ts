import type { Logger } from 'pino';

/**
 * Last line of defence for a long-running server process: an exception or a promise rejection that escaped
 * every handler is logged at error level and the process keeps serving, instead of Node's default of
 * exiting (which under `serve` takes every listener down because of one bad request).
 *
 * Each front end already answers every request with a decision and catches its own faults; this guard only
 * catches what a future bug lets through. Requests in flight are unaffected: each is bounded by its own
 * deadline and fails closed. The error is logged with its type, message and stack (pino's serializer),
 * never with request data.
 *
 * @returns a function that removes the handlers (for tests and shutdown).
 */
export function installProcessGuard(logger: Logger): () => void {
  const onException = (err: Error, origin: string): void => {
    logger.error({ err, origin }, 'uncaught exception escaped a handler; kept running');
  };
  const onRejection = (reason: unknown): void => {
    logger.error({ err: reason }, 'unhandled promise rejection escaped a handler; kept running');
  };
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
