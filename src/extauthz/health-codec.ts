import protobuf from 'protobufjs/minimal.js';

const { Reader, Writer } = protobuf;

/** `grpc.health.v1.HealthCheckRequest` as proto-loader gave it (`defaults: false`: absent = undefined). */
export interface HealthCheckRequest {
  service?: string;
}

/** `grpc.health.v1.HealthCheckResponse` (`status`: a ServingStatus number, see health-status.ts). */
export interface HealthCheckResponse {
  status: number;
}

/**
 * Hand codec of the two `grpc.health.v1` messages, shared by both gRPC transports (grpc-js and node:http2)
 * so that neither loads the .proto files at runtime. It decodes as the protobufjs code proto-loader
 * generated did, so the grpc-js transport answers every request as before: field 1 is read as a string
 * whatever its wire type (protobufjs does not check it), anything else is skipped as an unknown field,
 * a string longer than the message is cut at its end (protobufjs's Buffer reader does), and a truncated
 * tag or varint or an invalid wire type throws (grpc-js then answers INTERNAL "Error deserializing
 * request"). Checked against protobufjs in health-codec.test.ts.
 * @throws Error (RangeError, protobufjs's Error) when the bytes are not a HealthCheckRequest.
 */
export function decodeHealthRequest(bytes: Uint8Array): HealthCheckRequest {
  // A Buffer makes protobufjs read strings with Node's decoder, as it did for grpc-js's Buffers.
  const r = Reader.create(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const out: HealthCheckRequest = {};
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1) out.service = r.string();
    else r.skipType(tag & 7);
  }
  return out;
}

/** Encodes `HealthCheckResponse { status }` (status always written, as protobufjs did for a set enum). */
export function encodeHealthResponse(status: number): Buffer {
  return toBuffer(Writer.create().uint32((1 << 3) | 0).int32(status).finish());
}

/** Encodes `HealthCheckRequest { service }` (the client side; service written only when set). */
export function encodeHealthRequest(request: HealthCheckRequest): Buffer {
  const w = Writer.create();
  if (request.service !== undefined) w.uint32((1 << 3) | 2).string(request.service);
  return toBuffer(w.finish());
}

/**
 * Decodes `HealthCheckResponse` (the client side), as proto-loader did with `enums: Number`.
 * @throws Error when the bytes are not a HealthCheckResponse.
 */
export function decodeHealthResponse(bytes: Uint8Array): Partial<HealthCheckResponse> {
  const r = Reader.create(bytes);
  const out: Partial<HealthCheckResponse> = {};
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1) out.status = r.int32();
    else r.skipType(tag & 7);
  }
  return out;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
