import * as grpc from '@grpc/grpc-js';
import { parseFlags } from './parse-flags.js';

/**
 * The grpc-js options of the floor and the no-op ceiling: a 1 MiB message bound, and channelz off as
 * idgate's Check server has it (channelz costs per call; leaving it on here alone would make the
 * comparison unfair).
 */
export const BENCH_SERVER_OPTIONS: grpc.ServerOptions = Object.freeze({
  'grpc.max_receive_message_length': 1024 * 1024,
  'grpc.enable_channelz': 0,
});

/** A running bench gRPC server (the no-op ceiling or the transport floor). */
export interface BenchGrpcServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Binds `server` (insecure, `host`:`port`, default 127.0.0.1:0) and returns its port and a close that
 * waits at most 2 s for calls in flight before forcing the shutdown.
 * @throws Error when the address cannot be bound.
 */
export async function listenBenchServer(server: grpc.Server, options: { host?: string; port?: number }): Promise<BenchGrpcServer> {
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

/**
 * The command-line entry of a bench server (`--port`, `--host`, `--proto-dir`; the lower bound also takes
 * `--stages` and `--config`): starts it, prints the same
 * one-line JSON protocol as idgate's logger (`listening` with role grpc, then `ready`) so the harness starts
 * every target the same way, and closes it on SIGTERM/SIGINT. Exits 1 with a message when it cannot start.
 */
export function runBenchServerMain(
  name: string,
  start: (options: { host: string; port: number; protoDir?: string; stages?: string; config?: string }) => Promise<BenchGrpcServer>,
): void {
  const main = async (): Promise<void> => {
    const flags = parseFlags(process.argv.slice(2), { port: 'string', host: 'string', 'proto-dir': 'string', stages: 'string', config: 'string' });
    const server = await start({
      port: Number(flags.port ?? '0'),
      host: flags.host ?? '127.0.0.1',
      ...(flags['proto-dir'] !== undefined ? { protoDir: flags['proto-dir'] } : {}),
      ...(flags.stages !== undefined ? { stages: flags.stages } : {}),
      ...(flags.config !== undefined ? { config: flags.config } : {}),
    });
    process.stdout.write(`${JSON.stringify({ msg: 'listening', role: 'grpc', port: server.port })}\n`);
    process.stdout.write(`${JSON.stringify({ msg: 'ready' })}\n`);
    const stop = (): void => {
      void server.close().then(() => process.exit(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  };
  main().catch((err: unknown) => {
    process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

/** Whether the module at `moduleUrl` is the script node was started with (`node dist/bench/x.js`). */
export function isMainModule(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && moduleUrl === new URL(`file://${process.argv[1]}`).href;
}
