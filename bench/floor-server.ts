import * as grpc from '@grpc/grpc-js';
import { BENCH_SERVER_OPTIONS, isMainModule, listenBenchServer, runBenchServerMain, type BenchGrpcServer } from './bench-grpc-server.js';
import { loadUpstreamCheckCodec } from './encode-check-request.js';
import { CHECK_PATH } from './h2load.js';
import { NOOP_ALLOW } from './noop-server.js';

/** A running transport-floor Check server. */
export type FloorServer = BenchGrpcServer;

/** Bytes pass through both ways: the floor decodes nothing and encodes nothing per call. */
const passThrough = (bytes: Buffer): Buffer => bytes;

/**
 * Starts the **transport floor** (issue 15 §2): the same grpc-js server as the no-op ceiling, but
 * `Authorization/Check` is registered with pass-through request deserializer and response serializer and
 * answers fixed reply bytes — {@link NOOP_ALLOW} encoded once, here, with the upstream Envoy protos. The
 * no-op ceiling still decodes every CheckRequest and encodes its reply with proto-loader, work idgate
 * replaced with its hand codec, so a ratio to the ceiling flatters idgate; this is what grpc-js alone costs.
 * No health service: the harness never asks a target for it.
 * @throws Error when the upstream protos are missing or the address cannot be bound.
 */
export async function startFloorServer(options: { host?: string; port?: number }): Promise<FloorServer> {
  const reply = loadUpstreamCheckCodec().serializeResponse(NOOP_ALLOW);
  const server = new grpc.Server({ ...BENCH_SERVER_OPTIONS });
  const definition: grpc.ServiceDefinition = {
    Check: {
      path: CHECK_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: passThrough,
      requestDeserialize: passThrough,
      responseSerialize: passThrough,
      responseDeserialize: passThrough,
    },
  };
  server.addService(definition, {
    Check: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, reply),
  });
  return listenBenchServer(server, options);
}

if (isMainModule(import.meta.url)) runBenchServerMain('floor-server', startFloorServer);
