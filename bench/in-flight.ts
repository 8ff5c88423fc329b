/**
 * Runs `total` calls of `one`, keeping `inFlight` of them started and not yet answered (a closed-loop load
 * inside one process, as the micros drive the engine or the store); rejects on the first failure.
 */
export function keepInFlight(total: number, inFlight: number, one: () => Promise<unknown>): Promise<void> {
  return new Promise((done, fail) => {
    let started = 0;
    let answered = 0;
    const start = (): void => {
      if (started >= total) return;
      started += 1;
      one().then(() => {
        answered += 1;
        if (answered === total) done();
        else start();
      }, fail);
    };
    if (total <= 0) done();
    for (let i = 0; i < Math.min(inFlight, total); i++) start();
  });
}
