import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { CHECK_PATH } from './h2load.js';
import { summarizeLatencies, type LatencySummary } from './percentiles.js';

/** Options of {@link runGrpcLoad}. */
export interface GrpcLoadOptions {
  readonly port: number;
  /** Framed CheckRequests, sent in order and cycled; distinct bodies = distinct tokens. */
  readonly bodies: readonly Buffer[];
  /** HTTP/2 connections (Envoy keeps a few per worker). */
  readonly connections: number;
  /** Most calls in flight at once, over all connections. */
  readonly concurrency: number;
  /** Calls to make. */
  readonly total: number;
  /** Fixed offered rate, calls/s (open loop); undefined = saturation (closed loop). */
  readonly ratePerSecond?: number;
  /** Sent as `grpc-timeout`, and the stream is cancelled after it (default 1000 ms). */
  readonly callTimeoutMs?: number;
  /** The whole run stops after this long, finished or not (default 120 s). */
  readonly maxDurationMs?: number;
}

/** What one load run measured. */
export interface GrpcLoadResult {
  readonly sent: number;
  readonly completed: number;
  readonly seconds: number;
  /** Completed calls per second over the run. */
  readonly reqPerSec: number;
  /** Latencies (µs) of completed calls, from the request's start to its trailers. */
  readonly latency: LatencySummary;
  /** Count per `grpc-status` ("0" = OK); "none" when a response carried none. */
  readonly grpcStatusCounts: Readonly<Record<string, number>>;
  /** Streams that failed at the HTTP/2 level (reset, refused, timed out). */
  readonly transportErrors: number;
  /** One response message of each call with grpc-status 0, the first seen (for verdict checks). */
  readonly sampleResponse?: Buffer;
}

/**
 * A small open/closed-loop gRPC load generator over raw `node:http2`, for the scenarios h2load cannot
 * serve because each request must carry a different token (h2load repeats one body file). It sends the
 * pre-framed bodies as unary `Check` calls and reads `grpc-status` from the trailers.
 *
 * Raw HTTP/2 rather than a grpc-js client because the generator must be much cheaper per call than the
 * server it measures (grpc-js adds call objects, interceptors and deadline timers per call), and the
 * ceiling of a scenario is measured with this same generator, so the ratio stays fair.
 *
 * Bounded: at most `total` calls and `maxDurationMs`; every session is closed at the end.
 * @throws Error when no connection can be made.
 */
export async function runGrpcLoad(options: GrpcLoadOptions): Promise<GrpcLoadResult> {
  if (options.bodies.length === 0) throw new TypeError('bodies must not be empty');
  const callTimeoutMs = options.callTimeoutMs ?? 1_000;
  const maxDurationMs = options.maxDurationMs ?? 120_000;
  const sessions: ClientHttp2Session[] = [];
  for (let i = 0; i < Math.max(1, options.connections); i += 1) {
    const session = connect(`http://127.0.0.1:${options.port}`);
    session.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve());
      session.once('error', reject);
    });
    sessions.push(session);
  }

  const latenciesUs = new Float64Array(options.total);
  const grpcStatusCounts: Record<string, number> = {};
  let completed = 0;
  let transportErrors = 0;
  let sent = 0;
  let inFlight = 0;
  let sampleResponse: Buffer | undefined;
  const headers = {
    [constants.HTTP2_HEADER_METHOD]: 'POST',
    [constants.HTTP2_HEADER_PATH]: CHECK_PATH,
    [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
    te: 'trailers',
    'grpc-timeout': `${callTimeoutMs}m`,
  };

  const started = performance.now();
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let stopped = false;
  const open = new Set<{ stream: { close(code: number): void }; t0: number }>();
  const sweeper = setInterval(() => {
    const cutoff = performance.now() - callTimeoutMs;
    for (const call of open) {
      if (call.t0 < cutoff) {
        open.delete(call);
        call.stream.close(constants.NGHTTP2_CANCEL);
      }
    }
  }, 50);

  const launch = (): void => {
    const index = sent;
    sent += 1;
    inFlight += 1;
    const session = sessions[index % sessions.length] as ClientHttp2Session;
    const body = options.bodies[index % options.bodies.length] as Buffer;
    const t0 = performance.now();
    let status: string | undefined;
    let chunks: Buffer[] | undefined = sampleResponse === undefined ? [] : undefined;
    const stream = session.request(headers, { endStream: false });
    // One sweep timer for all calls instead of stream.setTimeout, which re-arms on every frame and costs
    // the generator more than the server spends on a no-op Check.
    const entry = { stream, t0 };
    open.add(entry);
    stream.on('response', (h) => {
      const s = h['grpc-status'];
      if (typeof s === 'string') status = s;
    });
    stream.on('trailers', (h) => {
      const s = h['grpc-status'];
      if (typeof s === 'string') status = s;
    });
    stream.on('data', (chunk: Buffer) => {
      chunks?.push(chunk);
    });
    stream.on('error', () => undefined);
    stream.once('close', () => {
      open.delete(entry);
      inFlight -= 1;
      if (stream.rstCode !== constants.NGHTTP2_NO_ERROR || status === undefined) {
        transportErrors += 1;
      } else {
        latenciesUs[completed] = (performance.now() - t0) * 1000;
        completed += 1;
        grpcStatusCounts[status] = (grpcStatusCounts[status] ?? 0) + 1;
        if (status === '0' && chunks !== undefined && sampleResponse === undefined) sampleResponse = Buffer.concat(chunks);
      }
      chunks = undefined;
      onSettled();
    });
    stream.end(body);
  };

  const onSettled = (): void => {
    if (stopped) return;
    if (sent >= options.total && inFlight === 0) {
      stopped = true;
      finish();
      return;
    }
    if (options.ratePerSecond === undefined) {
      while (inFlight < options.concurrency && sent < options.total) launch();
    }
  };

  const deadline = setTimeout(() => {
    stopped = true;
    finish();
  }, maxDurationMs);
  let ticker: NodeJS.Timeout | undefined;
  if (options.ratePerSecond === undefined) {
    onSettled();
  } else {
    const rate = options.ratePerSecond;
    // Open loop: every millisecond, start whatever the schedule says is due (a late tick catches up), so
    // a slow server sees queued arrivals instead of a politely waiting client (no coordinated omission
    // beyond the in-flight cap, which only protects the generator).
    ticker = setInterval(() => {
      if (stopped) return;
      const due = Math.min(options.total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      while (sent < due && inFlight < options.concurrency) launch();
      if (sent >= options.total && ticker !== undefined) clearInterval(ticker);
    }, 1);
  }
  await done;
  clearTimeout(deadline);
  clearInterval(sweeper);
  if (ticker !== undefined) clearInterval(ticker);
  const seconds = (performance.now() - started) / 1000;
  for (const session of sessions) session.destroy();
  return {
    sent,
    completed,
    seconds,
    reqPerSec: completed / seconds,
    latency: summarizeLatencies(latenciesUs.subarray(0, completed)),
    grpcStatusCounts,
    transportErrors,
    ...(sampleResponse !== undefined ? { sampleResponse } : {}),
  };
}
