import * as grpc from '@grpc/grpc-js';
import { CHECK_PATH } from './h2load.js';
import { unframeGrpc, type CheckCodec } from './encode-check-request.js';

/** The verdict a scenario expects from its target. */
export type ExpectedVerdict = 'allow' | 'step_up';

/** A CheckResponse reduced to what the harness checks. */
export interface SampledVerdict {
  readonly verdict: 'allow' | 'deny' | 'step_up';
  /** `status.code` of the CheckResponse (0 = OK/allow). */
  readonly rpcStatusCode: number;
  /** HTTP status of a denied response (401, 302…); undefined on allow. */
  readonly httpStatus?: number;
  /** The deny body, cut to 300 characters (problem+json; never holds tokens). */
  readonly body?: string;
}

interface HeaderOption {
  header?: { key?: string; value?: string };
}
interface CheckResponseShape {
  status?: { code?: number };
  ok_response?: unknown;
  denied_response?: { status?: { code?: number }; headers?: HeaderOption[]; body?: string };
}

/**
 * Classifies a decoded CheckResponse: allow when `status.code` is 0; step-up when denied with a 302, or a
 * 401 whose challenge or body names `insufficient_user_authentication` (RFC 9470); deny otherwise.
 */
export function classifyCheckResponse(response: Record<string, unknown>): SampledVerdict {
  const r = response as CheckResponseShape;
  const code = r.status?.code ?? 0;
  if (code === 0) return { verdict: 'allow', rpcStatusCode: 0 };
  const denied = r.denied_response;
  const httpStatus = denied?.status?.code;
  const body = (denied?.body ?? '').slice(0, 300);
  const challenge = (denied?.headers ?? [])
    .filter((h) => h.header?.key?.toLowerCase() === 'www-authenticate')
    .map((h) => h.header?.value ?? '')
    .join(' ');
  const stepUp = httpStatus === 302 || (httpStatus === 401 && /insufficient_user_authentication/.test(`${challenge} ${body}`));
  return {
    verdict: stepUp ? 'step_up' : 'deny',
    rpcStatusCode: code,
    ...(httpStatus !== undefined ? { httpStatus } : {}),
    body,
  };
}

/**
 * Sends one framed CheckRequest with a real grpc-js client (upstream protos for decoding) and classifies
 * the answer — the harness's check, before it measures anything, that the target decides what the
 * scenario expects.
 * @throws Error on a transport/RPC error or when the call does not finish within `timeoutMs` (default 5 s).
 */
export async function sampleCheck(port: number, framedBody: Buffer, codec: CheckCodec, timeoutMs = 5_000): Promise<SampledVerdict> {
  const message = unframeGrpc(framedBody);
  if (message === undefined) throw new TypeError('body is not a framed gRPC message');
  return classifyCheckResponse(codec.deserializeResponse(await rawCheck(port, message, timeoutMs)));
}

/**
 * {@link sampleCheck} for a target that has just started: a cold target may answer its very first Check with
 * a fail-closed 503 (JIT, first key use), which is not its verdict, so that one answer is asked again (up to
 * 5 times, 200 ms apart); any other answer is returned at once.
 */
export async function sampleWarmVerdict(port: number, framedBody: Buffer, codec: CheckCodec): Promise<SampledVerdict> {
  let sample = await sampleCheck(port, framedBody, codec);
  for (let i = 0; i < 5 && sample.verdict === 'deny' && sample.httpStatus === 503; i++) {
    await new Promise((r) => setTimeout(r, 200));
    sample = await sampleCheck(port, framedBody, codec);
  }
  return sample;
}

/**
 * Sends one CheckRequest message (unframed bytes) with a real grpc-js client and returns the raw reply.
 * @throws Error (a grpc-js ServiceError with `code`) on an RPC error, or when the call does not finish
 *   within `timeoutMs` (default 5 s).
 */
export async function rawCheck(port: number, message: Buffer, timeoutMs = 5_000): Promise<Buffer> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest(CHECK_PATH, (b: Buffer) => b, (b: Buffer) => b, message, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, value) => {
        if (err !== null || value === undefined) reject(err ?? new Error('empty response'));
        else resolve(value);
      });
    });
  } finally {
    client.close();
  }
}

/** Sampled decisions of one phase, by kind; `error` = the sample call itself failed (RPC error, deadline). */
export interface VerdictCounts {
  allow: number;
  deny: number;
  step_up: number;
  error: number;
}

/** What a {@link startVerdictSampler} saw over one phase. */
export interface VerdictTally {
  readonly counts: Readonly<VerdictCounts>;
  /** The first sampled answer that was not the expected verdict (for the report). */
  readonly firstMismatch?: SampledVerdict;
}

/**
 * The phase's verdict check: undefined when the sampled mix is what the scenario expects (at least one
 * sample of the expected kind and none of another decided kind), else why not. Failed sample calls are
 * reported by the caller but do not by themselves fail a phase (the generator counts those as errors).
 */
export function judgeVerdicts(tally: VerdictTally, expected: ExpectedVerdict): string | undefined {
  const { counts } = tally;
  const wrong = (['allow', 'deny', 'step_up'] as const).filter((k) => k !== expected && counts[k] > 0);
  const mix = `allow ${counts.allow}, deny ${counts.deny}, step-up ${counts.step_up}, failed ${counts.error}`;
  if (wrong.length > 0) {
    const m = tally.firstMismatch;
    const detail = m === undefined ? '' : `; first: ${m.verdict}${m.httpStatus !== undefined ? ` (HTTP ${m.httpStatus})` : ''}${m.body ? ` ${m.body.slice(0, 120)}` : ''}`;
    return `expected only ${expected} verdicts, sampled ${mix}${detail}`;
  }
  if (counts[expected] === 0) return `no ${expected} verdict sampled (${mix})`;
  return undefined;
}

/**
 * Samples verdicts WHILE a phase runs: one grpc-js client sends the phase's bodies in turn, one call at a
 * time with `intervalMs` between calls, decodes each CheckResponse and counts its kind. A target that
 * starts denying mid-run is caught, which counting gRPC-OK answers as throughput never did. The extra
 * load is one call in flight, well under 1 % of any phase. `stop()` ends the loop and returns the tally.
 */
export function startVerdictSampler(
  port: number,
  bodies: readonly Buffer[],
  codec: CheckCodec,
  expected: ExpectedVerdict,
  options: { intervalMs?: number; timeoutMs?: number } = {},
): { stop(): Promise<VerdictTally> } {
  const intervalMs = options.intervalMs ?? 25;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const messages = bodies.map((b) => unframeGrpc(b)).filter((m): m is Buffer => m !== undefined);
  if (messages.length === 0) throw new TypeError('no framed gRPC body to sample with');
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const counts: VerdictCounts = { allow: 0, deny: 0, step_up: 0, error: 0 };
  let firstMismatch: SampledVerdict | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  const call = (message: Buffer): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        CHECK_PATH,
        (b: Buffer) => b,
        (b: Buffer) => codec.deserializeResponse(b),
        message,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, value) => (err !== null || value === undefined ? reject(err ?? new Error('empty response')) : resolve(value)),
      );
    });
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      try {
        const sampled = classifyCheckResponse(await call(messages[i % messages.length] as Buffer));
        counts[sampled.verdict] += 1;
        if (sampled.verdict !== expected) firstMismatch ??= sampled;
      } catch {
        counts.error += 1;
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      client.close();
      return { counts: { ...counts }, ...(firstMismatch !== undefined ? { firstMismatch } : {}) };
    },
  };
}
