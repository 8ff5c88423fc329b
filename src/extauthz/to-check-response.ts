import type { DeniedHttpStatus, RenderedVerdict, VerdictMetadata } from '../core/render-decision.js';
import type { CheckResponseObject, HeaderValueOptionObject, StructObject, StructValueObject } from './check-wire-types.js';

/** google.rpc.Code values used in CheckResponse.status. */
export const GrpcCode = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** `append: false` of every upstream header, shared (responses are only read, by the encoder). */
const OVERWRITE: { readonly value: boolean } = Object.freeze({ value: false });

/**
 * Maps a rendered verdict onto the CheckResponse wire shape.
 *
 * - allow → `status.code = 0`, every upstream header with `append: {value: false}` (overwrite on every Envoy
 *   version), `headers_to_remove`, and the metadata as `dynamic_metadata`.
 * - deny → non-zero `status.code` (401/302→16 UNAUTHENTICATED, 403→7 PERMISSION_DENIED, 400→3
 *   INVALID_ARGUMENT, 429→8 RESOURCE_EXHAUSTED, 503→14 UNAVAILABLE) with the deny code as message, and
 *   `denied_response` carrying the HTTP status, headers (no `append` field: Envoy drops `append: true` on
 *   denies) and body.
 */
export function toCheckResponse(verdict: RenderedVerdict): CheckResponseObject {
  if (verdict.allow) {
    const headers: HeaderValueOptionObject[] = new Array<HeaderValueOptionObject>(verdict.upstreamHeaders.length);
    for (let i = 0; i < verdict.upstreamHeaders.length; i++) {
      const [key, value] = verdict.upstreamHeaders[i] as readonly [string, string];
      headers[i] = { header: { key, value }, append: OVERWRITE };
    }
    return {
      status: { code: GrpcCode.OK },
      // The verdict's own list: it is built per decision and only read from here on.
      ok_response: { headers, headers_to_remove: verdict.removeHeaders },
      dynamic_metadata: toStruct(verdict.metadata),
    };
  }
  const headers: HeaderValueOptionObject[] = verdict.headers.map(([key, value]) => ({ header: { key, value } }));
  return {
    status: { code: grpcCodeFor(verdict.status), message: verdict.code },
    denied_response: { status: { code: verdict.status }, headers, body: verdict.body },
    dynamic_metadata: toStruct(verdict.metadata),
  };
}

/** The google.rpc.Code conventionally paired with a denied HTTP status; never 0. */
export function grpcCodeFor(status: DeniedHttpStatus): number {
  switch (status) {
    case 400:
      return GrpcCode.INVALID_ARGUMENT;
    case 401:
    case 302:
      return GrpcCode.UNAUTHENTICATED;
    case 403:
      return GrpcCode.PERMISSION_DENIED;
    case 429:
      return GrpcCode.RESOURCE_EXHAUSTED;
    case 503:
      return GrpcCode.UNAVAILABLE;
    default: {
      const unreachable: never = status;
      void unreachable;
      return GrpcCode.PERMISSION_DENIED;
    }
  }
}

/** Flat metadata → `google.protobuf.Struct` object form (camelCase value keys). */
export function toStruct(metadata: VerdictMetadata): StructObject {
  // Null prototype: a `__proto__` key must stay a field, not become a prototype.
  const fields = Object.create(null) as Record<string, StructValueObject>;
  for (const key in metadata) {
    const value = metadata[key];
    if (typeof value === 'string') fields[key] = { stringValue: value };
    else if (typeof value === 'number') fields[key] = { numberValue: value };
    else if (typeof value === 'boolean') fields[key] = { boolValue: value };
  }
  return { fields };
}
