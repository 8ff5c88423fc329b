import * as grpc from '@grpc/grpc-js';
import { loadAuthzProtos } from './load-authz-protos.js';
import { BENCH_SERVER_OPTIONS, isMainModule, listenBenchServer, runBenchServerMain, type BenchGrpcServer } from './bench-grpc-server.js';

/** The fixed allow every Check gets: what a decision costs when the decision itself is free. */
export const NOOP_ALLOW = Object.freeze({
  status: { code: 0 },
  ok_response: {
    headers: [{ header: { key: 'x-idgate-subject', value: 'bench' }, append: { value: false } }],
  },
});

/** A running no-op Check server. */
export type NoopServer = BenchGrpcServer;

/**
 * Starts the benchmark ceiling: a gRPC server on the same stack as idgate (grpc-js, idgate's own `proto/`
 * loaded with idgate's proto-loader options and message limit) whose Check answers {@link NOOP_ALLOW} without
 * looking at the request, plus grpc.health.v1 answering SERVING.
 * @throws Error when the protos cannot be loaded or the address cannot be bound.
 */
export async function startNoopServer(options: { host?: string; port?: number; protoDir?: string }): Promise<NoopServer> {
  const protos = loadAuthzProtos(options.protoDir);
  const server = new grpc.Server({ ...BENCH_SERVER_OPTIONS });
  server.addService(protos.authorization, {
    Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, NOOP_ALLOW),
  });
  server.addService(protos.health, {
    Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { status: 1 }),
    Watch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      call.write({ status: 1 });
    },
  });
  return listenBenchServer(server, options);
}

if (isMainModule(import.meta.url)) runBenchServerMain('noop-server', startNoopServer);
