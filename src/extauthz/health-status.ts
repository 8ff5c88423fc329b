/** Health service names answered; anything else is NOT_FOUND (Check) / SERVICE_UNKNOWN (Watch). */
export const HEALTH_SERVICES = ['', 'envoy.service.auth.v3.Authorization'] as const;

/** grpc.health.v1.HealthCheckResponse.ServingStatus values. */
export const ServingStatus = { SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

/** Whether `service` is one of {@link HEALTH_SERVICES} (absent = the server as a whole). */
export function isKnownService(service: string | undefined): boolean {
  return (HEALTH_SERVICES as readonly string[]).includes(service ?? '');
}

/** What a Watch stream of `service` reports while the server is (or is not) serving. */
export function watchStatus(service: string | undefined, serving: boolean): number {
  return !isKnownService(service) ? ServingStatus.SERVICE_UNKNOWN : serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
}

/**
 * What the health service reports (SERVING / NOT_SERVING) and the open Watch streams to tell when it
 * changes; shared by both gRPC transports. `W` is the transport's stream.
 */
export class HealthBoard<W> {
  #serving = true;
  readonly #watchers = new Set<W>();
  readonly #send: (watcher: W, status: number) => void;
  readonly #service: (watcher: W) => string | undefined;
  readonly #end: (watcher: W) => void;

  /**
   * @param send writes one HealthCheckResponse to a Watch stream.
   * @param service the service a Watch stream asked about.
   * @param end ends a Watch stream with OK.
   */
  constructor(send: (watcher: W, status: number) => void, service: (watcher: W) => string | undefined, end: (watcher: W) => void) {
    this.#send = send;
    this.#service = service;
    this.#end = end;
  }

  get serving(): boolean {
    return this.#serving;
  }

  /** Health/Check's answer for a known service. */
  get status(): number {
    return this.#serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  }

  /** Sets SERVING / NOT_SERVING and tells every Watch of a known service. */
  setServing(serving: boolean): void {
    if (this.#serving === serving) return;
    this.#serving = serving;
    const status = this.status;
    for (const watcher of this.#watchers) {
      if (isKnownService(this.#service(watcher))) this.#send(watcher, status);
    }
  }

  /** Starts a Watch: sends its first status now and later changes until it is forgotten or ended. */
  watch(watcher: W): void {
    this.#send(watcher, watchStatus(this.#service(watcher), this.#serving));
    this.#watchers.add(watcher);
  }

  forget(watcher: W): void {
    this.#watchers.delete(watcher);
  }

  /** Stops serving for good: NOT_SERVING, then every Watch ends. */
  shutDown(): void {
    this.setServing(false);
    this.endAll();
  }

  /** Stops serving at once: NOT_SERVING without telling the Watches, which end (OK). */
  close(): void {
    this.#serving = false;
    this.endAll();
  }

  private endAll(): void {
    for (const watcher of this.#watchers) this.#end(watcher);
    this.#watchers.clear();
  }
}
