import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local OTLP/HTTP collector stand-in for the traced scenarios; `close()` stops it. */
export interface OtlpSink {
  /** The `tracing.endpoint` idgate exports to (`http://127.0.0.1:<port>/v1/traces`). */
  readonly endpoint: string;
  close(): Promise<void>;
}

/**
 * Starts a sink on 127.0.0.1 that reads and acknowledges every export (so the exporter never backs up) and
 * keeps nothing. Every tool that runs a traced scenario (`run.ts`, and through `ab-session.ts`
 * `cpu-per-check.ts` and `paced-tail.ts`) starts one: a traced scenario without it would be untraced.
 */
export async function startOtlpSink(): Promise<OtlpSink> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
