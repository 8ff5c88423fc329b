import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { decodeHealthRequest, decodeHealthResponse, encodeHealthRequest, encodeHealthResponse, type HealthCheckRequest, type HealthCheckResponse } from './health-codec.js';

/** The gRPC method paths served. */
export const CHECK_METHOD = '/envoy.service.auth.v3.Authorization/Check';
export const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';
export const HEALTH_WATCH_METHOD = '/grpc.health.v1.Health/Watch';

/*
 * The grpc-js service definitions of `envoy.service.auth.v3.Authorization` and `grpc.health.v1.Health`,
 * written out instead of loaded from the .proto files: @grpc/proto-loader and the full protobufjs (with
 * its .proto parser) cost the process 7–9 MiB of RSS (bench/README.md "Memory per role") only to build
 * these few objects, whose (de)serializers idgate replaces with its hand codecs anyway. Paths, streaming
 * flags and `originalName`s are what proto-loader produced (grpc-service-definitions.test.ts compares).
 */

/** Only the server side is idgate's: the client-side half of the Check definition is never called. */
function serverOnly(): never {
  throw new Error('idgate serves Authorization/Check; it has no client-side codec for it');
}

/**
 * `envoy.service.auth.v3.Authorization` with the given server-side codec (the caller's decode may return
 * markers for undecodable or oversized requests, so a bad request becomes a deny, not an RPC error).
 */
export function authorizationService<Req, Res>(requestDeserialize: (bytes: Buffer) => Req, responseSerialize: (value: Res) => Buffer): ServiceDefinition {
  const check: MethodDefinition<Req, Res> = {
    path: CHECK_METHOD,
    requestStream: false,
    responseStream: false,
    requestSerialize: serverOnly,
    requestDeserialize,
    responseSerialize,
    responseDeserialize: serverOnly,
    originalName: 'check',
  };
  return { Check: check };
}

const healthMethod = (path: string, responseStream: boolean, originalName: string): MethodDefinition<HealthCheckRequest, HealthCheckResponse> => ({
  path,
  requestStream: false,
  responseStream,
  requestSerialize: encodeHealthRequest,
  requestDeserialize: decodeHealthRequest,
  responseSerialize: (value) => encodeHealthResponse(value.status),
  responseDeserialize: (bytes) => decodeHealthResponse(bytes) as HealthCheckResponse,
  originalName,
});

/** `grpc.health.v1.Health`: unary `Check`, server-streaming `Watch`. */
export const HEALTH_SERVICE: ServiceDefinition = Object.freeze({
  Check: healthMethod(HEALTH_CHECK_METHOD, false, 'check'),
  Watch: healthMethod(HEALTH_WATCH_METHOD, true, 'watch'),
});
