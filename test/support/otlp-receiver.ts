import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import protobuf from 'protobufjs';

/** One exported span, decoded. Ids are lower-case hex; `parentSpanId` is '' for a root span. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP SpanKind: 2 = SERVER, 3 = CLIENT. */
  readonly kind: number;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  readonly resource: Readonly<Record<string, string | number | boolean>>;
  readonly statusCode: number;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>/v1/traces`. */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Requests that were not a decodable protobuf POST to /v1/traces. */
  readonly rejected: string[];
  close(): Promise<void>;
}

const MAX_BODY = 4 * 1024 * 1024;

/**
 * A real OTLP/HTTP traces receiver on 127.0.0.1: accepts `POST /v1/traces` with
 * `application/x-protobuf`, decodes `ExportTraceServiceRequest` with test/fixtures/otlp-trace.proto and
 * keeps every span. Answers an empty ExportTraceServiceResponse (full success).
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const root = await protobuf.load(resolve(import.meta.dirname, '../fixtures/otlp-trace.proto'));
  const Request = root.lookupType('idgate.test.otlp.ExportTraceServiceRequest');
  const spans: ReceivedSpan[] = [];
  const rejected: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      const type = req.headers['content-type'] ?? '';
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !type.startsWith('application/x-protobuf') || size > MAX_BODY) {
        rejected.push(`${req.method} ${req.url} ${type} ${size}`);
        res.writeHead(400).end();
        return;
      }
      try {
        const decoded = Request.toObject(Request.decode(Buffer.concat(chunks)), { longs: Number, bytes: Buffer, defaults: true, oneofs: true }) as {
          resourceSpans: Array<{ resource?: { attributes: KeyValue[] }; scopeSpans: Array<{ spans: RawSpan[] }> }>;
        };
        for (const rs of decoded.resourceSpans) {
          const resource = attributesOf(rs.resource?.attributes ?? []);
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              spans.push({
                traceId: s.traceId.toString('hex'),
                spanId: s.spanId.toString('hex'),
                parentSpanId: s.parentSpanId.toString('hex'),
                name: s.name,
                kind: s.kind,
                attributes: attributesOf(s.attributes),
                resource,
                statusCode: s.status?.code ?? 0,
              });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      } catch (err) {
        rejected.push(`undecodable: ${String(err)}`);
        res.writeHead(400).end();
      }
    });
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    rejected,
    close: () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}

interface KeyValue {
  key: string;
  /** `value` names the member of the oneof that is set (toObject `oneofs: true`). */
  value?: { value?: string } & Record<string, unknown>;
}
interface RawSpan {
  traceId: Buffer;
  spanId: Buffer;
  parentSpanId: Buffer;
  name: string;
  kind: number;
  attributes: KeyValue[];
  status?: { code?: number };
}

function attributesOf(list: readonly KeyValue[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list) {
    const v = kv.value ?? {};
    const set = v.value !== undefined ? v[v.value] : undefined;
    out[kv.key] = typeof set === 'string' || typeof set === 'number' || typeof set === 'boolean' ? set : '';
  }
  return out;
}
