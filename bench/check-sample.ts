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
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const response = await new Promise<Record<string, unknown>>((resolve, reject) => {
      client.makeUnaryRequest(
        CHECK_PATH,
        (b: Buffer) => b,
        (b: Buffer) => codec.deserializeResponse(b),
        message,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, value) => {
          if (err !== null || value === undefined) reject(err ?? new Error('empty response'));
          else resolve(value);
        },
      );
    });
    return classifyCheckResponse(response);
  } finally {
    client.close();
  }
}
