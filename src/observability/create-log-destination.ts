import { pino, type DestinationStream } from 'pino';

/** What {@link createLogDestination} returns: pino writes lines to it; flush, flushSync and end reach sonic-boom. */
export interface LogDestination extends DestinationStream {
  write(line: string): void;
  flush(cb?: (err?: Error) => void): void;
  flushSync(): void;
  end(): void;
  /** sonic-boom's events (`ready`, `close`, …). */
  once(event: string, listener: () => void): void;
}

/** sonic-boom in buffer mode (`contentMode: 'buffer'`) takes Buffers; its types only know the string mode. */
type SonicBoom = Omit<ReturnType<typeof pino.destination>, 'write'> & { write(chunk: Buffer): boolean };

/** Each open destination's exit hand-over; one process `exit` listener for all of them, added on first use. */
const exitHandOvers = new Set<() => void>();
const onProcessExit = (): void => {
  for (const handOver of exitHandOvers) handOver();
};

/**
 * The process's log destination: pino's asynchronous sonic-boom (`sync: false`, so request paths never
 * block on a slow log pipe; pino flushes it on exit), handed the lines of one event-loop turn as one string.
 *
 * Why: on every `write`, sonic-boom measures the byte length of the pending buffer it appends to
 * (`Buffer.byteLength(bufs[last])`, up to 16 kB), a string grown with `+=`, so V8 copies all of it again
 * to flatten it. While one write to the pipe is in flight, each new line copies every line before it:
 * quadratic in the lines per write, ~8 kB of copies per line at a step-up's rate (a step-up is logged on
 * every Check). Joining a turn's lines first makes that one measurement per turn instead of per line
 * (bench/README.md, "Step-up and Redis paths, sixth round": −67 % bytes allocated per logged line).
 *
 * The turn's string is encoded once, here, and sonic-boom runs in buffer mode. In string mode it encoded
 * every write twice (`fs.write` of the string, then `Buffer.from` of it again when the write completed, to
 * cut what was written) and the native write reserved 3 bytes per character for the encoding, an `mmap`
 * per turn at a step-up's rate (bench/README.md, "Step-up path, eighth round": −40 % CPU per line). One
 * `Buffer` per turn, not per line: a buffer per line (external memory) measured worse in the sixth round.
 *
 * Same bytes, same order: every line goes through here, in call order, and reaches sonic-boom at the end
 * of the turn it was written in (`setImmediate`), or before, whenever pino flushes or ends the stream. An
 * exit in the middle of a turn (a fatal error, `process.exit`) loses nothing: pino's own exit hook flushes
 * sonic-boom synchronously, then this one hands over the turn's lines and flushes again.
 *
 * `dest`: a file descriptor (default 1, stdout) or a file path (tests).
 */
export function createLogDestination(dest: number | string = 1): LogDestination {
  const boom = pino.destination({ dest, sync: false, contentMode: 'buffer' }) as unknown as SonicBoom;
  let pending: string[] = [];
  let scheduled = false;

  // Methods are looked up on `boom` at each call: pino replaces them with no-ops after a broken pipe.
  const handOver = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const lines = pending;
    pending = [];
    boom.write(Buffer.from(lines.length === 1 ? (lines[0] as string) : lines.join(''), 'utf8'));
  };
  const onExit = (): void => {
    if (pending.length === 0) return;
    handOver();
    try {
      boom.flushSync();
    } catch {
      // Destroyed or not open yet: nothing more can be written at exit.
    }
  };
  if (exitHandOvers.size === 0) process.on('exit', onProcessExit);
  exitHandOvers.add(onExit);
  boom.on('close', () => {
    exitHandOvers.delete(onExit);
    if (exitHandOvers.size === 0) process.removeListener('exit', onProcessExit);
  });

  return {
    write(line) {
      pending.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(handOver);
      }
    },
    flush(cb) {
      handOver();
      boom.flush(cb);
    },
    flushSync() {
      handOver();
      boom.flushSync();
    },
    end() {
      handOver();
      boom.end();
    },
    once(event, listener) {
      boom.once(event, listener);
    },
  };
}
