import * as grpc from '@grpc/grpc-js';
import { loadAuthzProtos } from '../src/extauthz/load-authz-protos.js';
import { parseFlags } from './parse-flags.js';

/** The fixed allow every Check gets: what a decision costs when the decision itself is free. */
export const NOOP_ALLOW = Object.freeze({
  status: { code: 0 },
  ok_response: {
    headers: [{ header: { key: 'x-idgate-subject', value: 'bench' }, append: { value: false } }],
  },
});

/** A running no-op Check server. */
export interface NoopServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Starts the benchmark ceiling: a gRPC server on the same stack as idgate (grpc-js, idgate's own `proto/`
 * loaded with idgate's proto-loader options and message limit) whose Check answers {@link NOOP_ALLOW} without
 * looking at the request, plus grpc.health.v1 answering SERVING.
 * @throws Error when the protos cannot be loaded or the address cannot be bound.
 */
export async function startNoopServer(options: { host?: string; port?: number; protoDir?: string }): Promise<NoopServer> {
  const protos = loadAuthzProtos(options.protoDir);
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 1024 * 1024 });
  server.addService(protos.authorization, {
    Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, NOOP_ALLOW),
  });
  server.addService(protos.health, {
    Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { status: 1 }),
    Watch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      call.write({ status: 1 });
    },
  });
  const host = options.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err !== null) reject(err);
      else resolve(bound);
    });
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2_000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { port: 'string', host: 'string', 'proto-dir': 'string' });
  const server = await startNoopServer({
    port: Number(flags.port ?? '0'),
    host: flags.host ?? '127.0.0.1',
    ...(flags['proto-dir'] !== undefined ? { protoDir: flags['proto-dir'] } : {}),
  });
  // The same one-line JSON protocol as idgate's logger, so the harness starts every target the same way.
  process.stdout.write(`${JSON.stringify({ msg: 'listening', role: 'grpc', port: server.port })}\n`);
  process.stdout.write(`${JSON.stringify({ msg: 'ready' })}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`noop-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
