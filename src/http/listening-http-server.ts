import type { Server } from 'node:http';
import { closeServer, listenServer } from './server-lifecycle.js';

/**
 * The `listen(host, port)` / `close(graceMs)` pair of an idgate server class that owns one `node:http` (or
 * `node:https`) server, so each such class writes only its request handling.
 */
export abstract class ListeningHttpServer {
  /** The server this object owns, assigned once by the subclass constructor. */
  protected abstract readonly httpServer: Server;

  /**
   * Binds and starts serving.
   * @returns the bound port (useful with port 0).
   * @throws Error when the address cannot be bound.
   */
  listen(host: string, port: number): Promise<number> {
    return listenServer(this.httpServer, host, port);
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then drops every connection. */
  close(graceMs = 5_000): Promise<void> {
    return closeServer(this.httpServer, graceMs);
  }
}
