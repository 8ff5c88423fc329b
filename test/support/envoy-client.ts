import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/** The four include roots of the upstream Envoy API shipped inside @grpc/grpc-js-xds. */
export const UPSTREAM_PROTO_DIRS: readonly string[] = ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map(
  (dir) => fileURLToPath(new URL(`../../node_modules/@grpc/grpc-js-xds/deps/${dir}`, import.meta.url)),
);

const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
const HEALTH_WATCH_PATH = '/grpc.health.v1.Health/Watch';

/** An upstream CheckRequest in proto-loader object form (`keepCase: true`); only commonly used fields typed. */
export interface UpstreamCheckRequest {
  attributes?: {
    source?: UpstreamPeer;
    destination?: UpstreamPeer;
    request?: {
      time?: { seconds: number | string; nanos?: number };
      http?: {
        id?: string;
        method?: string;
        headers?: Record<string, string>;
        header_map?: { headers: { key: string; value?: string; raw_value?: Uint8Array }[] };
        path?: string;
        host?: string;
        scheme?: string;
        size?: number | string;
        protocol?: string;
        body?: string;
        raw_body?: Uint8Array;
      };
    };
    context_extensions?: Record<string, string>;
    metadata_context?: { filter_metadata?: Record<string, unknown> };
    route_metadata_context?: { filter_metadata?: Record<string, unknown> };
    tls_session?: { sni?: string };
  };
}

/** Upstream `AttributeContext.Peer`. */
export interface UpstreamPeer {
  address?: { socket_address?: { address?: string; port_value?: number } };
  service?: string;
  labels?: Record<string, string>;
  principal?: string;
  certificate?: string;
}

/** Upstream `HeaderValueOption` as decoded (`append` present only when it was on the wire). */
export interface UpstreamHeaderValueOption {
  header: { key: string; value: string; raw_value?: Buffer };
  append?: { value: boolean };
  append_action?: number;
  keep_empty_value?: boolean;
}

/** An upstream CheckResponse decoded with `keepCase: true, longs: String, enums: Number, defaults: false`. */
export interface UpstreamCheckResponse {
  status?: { code?: number; message?: string };
  http_response?: 'denied_response' | 'ok_response';
  denied_response?: {
    status?: { code?: number };
    headers?: UpstreamHeaderValueOption[];
    body?: string;
  };
  ok_response?: {
    headers?: UpstreamHeaderValueOption[];
    headers_to_remove?: string[];
    response_headers_to_add?: UpstreamHeaderValueOption[];
  };
  dynamic_metadata?: { fields?: Record<string, { stringValue?: string; numberValue?: number; boolValue?: boolean }> };
}

/** Per-call options of {@link EnvoyClient}. */
export interface CheckOptions {
  /** Deadline sent as `grpc-timeout`, ms from now (default 2000). */
  readonly deadlineMs?: number;
  /** gRPC metadata of the call itself (what Envoy's tracer sets: `traceparent`, `b3`…), not CheckRequest headers. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** A test stand-in for Envoy's ext_authz gRPC client, built from the upstream Envoy protos. */
export interface EnvoyClient {
  /** Sends an upstream-encoded CheckRequest and decodes the answer with the upstream CheckResponse. */
  check(request: UpstreamCheckRequest, options?: CheckOptions): Promise<UpstreamCheckResponse>;
  /**
   * Sends a CheckRequest (upstream-encoded, or raw bytes as given) and returns the CheckResponse bytes
   * undecoded (wire-level checks).
   */
  checkBytes(request: UpstreamCheckRequest | Uint8Array, options?: CheckOptions): Promise<Buffer>;
  /** Upstream decoder of CheckResponse bytes. */
  decodeResponse(bytes: Buffer): UpstreamCheckResponse;
  /** Sends arbitrary bytes as the Check request body (for garbage-input tests). */
  checkRaw(bytes: Uint8Array, options?: CheckOptions): Promise<UpstreamCheckResponse>;
  /** grpc.health.v1.Health/Check: resolves to the ServingStatus number, rejects with the gRPC error. */
  health(service?: string, options?: CheckOptions): Promise<number>;
  /** grpc.health.v1.Health/Watch: a stream of ServingStatus numbers; call `cancel()` when done. */
  watchHealth(service?: string): grpc.ClientReadableStream<number>;
  /** Upstream encoder, for tests that need the raw bytes of a request. */
  encodeRequest(request: UpstreamCheckRequest): Buffer;
  close(): void;
}

/**
 * Connects to an ext_authz server at `address` (`host:port`) over plaintext HTTP/2 (or `credentials`, e.g. TLS). Messages are encoded and
 * decoded with the upstream Envoy protos from @grpc/grpc-js-xds, so the server's own protos are checked for
 * wire compatibility on every call. Health uses a hand-encoded HealthCheckRequest.
 */
export function createEnvoyClient(
  address: string,
  channelOptions: grpc.ChannelOptions = {},
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): EnvoyClient {
  const definition = loadSync('envoy/service/auth/v3/external_auth.proto', {
    includeDirs: [...UPSTREAM_PROTO_DIRS],
    keepCase: true,
    longs: String,
    enums: Number,
    defaults: false,
    oneofs: true,
  });
  const service = definition['envoy.service.auth.v3.Authorization'] as grpc.ServiceDefinition;
  const method = service['Check'];
  if (method === undefined) throw new Error('upstream Authorization service has no Check');
  const encode = method.requestSerialize as (value: UpstreamCheckRequest) => Buffer;
  const decode = method.responseDeserialize as (bytes: Buffer) => UpstreamCheckResponse;
  const client = new grpc.Client(address, credentials, channelOptions);

  function unary<Req, Res>(
    path: string,
    serialize: (value: Req) => Buffer,
    deserialize: (bytes: Buffer) => Res,
    argument: Req,
    options: CheckOptions | undefined,
  ): Promise<Res> {
    const deadline = Date.now() + (options?.deadlineMs ?? 2000);
    const metadata = new grpc.Metadata();
    for (const [name, value] of Object.entries(options?.metadata ?? {})) metadata.set(name, value);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(path, serialize, deserialize, argument, metadata, { deadline }, (err, value) => {
        if (err !== null) reject(err);
        else if (value === undefined) reject(new Error('empty response'));
        else resolve(value);
      });
    });
  }

  return {
    check: (request, options) => unary(CHECK_PATH, encode, decode, request, options),
    checkBytes: (request, options) =>
      unary(CHECK_PATH, (r: UpstreamCheckRequest | Uint8Array) => (r instanceof Uint8Array ? Buffer.from(r) : encode(r)), (b: Buffer) => b, request, options),
    decodeResponse: decode,
    checkRaw: (bytes, options) => unary(CHECK_PATH, (b: Uint8Array) => Buffer.from(b), decode, bytes, options),
    health: (name = '', options) =>
      unary(HEALTH_CHECK_PATH, encodeHealthRequest, decodeHealthResponse, name, options),
    watchHealth: (name = '') =>
      client.makeServerStreamRequest(HEALTH_WATCH_PATH, encodeHealthRequest, decodeHealthResponse, name, {}),
    encodeRequest: encode,
    close: () => client.close(),
  };
}

/** HealthCheckRequest { string service = 1; } */
function encodeHealthRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  if (name.length === 0) return Buffer.alloc(0);
  if (name.length > 127) throw new Error('service name too long for this helper');
  return Buffer.concat([Buffer.from([0x0a, name.length]), name]);
}

/** HealthCheckResponse { ServingStatus status = 1; } (0 when absent). */
function decodeHealthResponse(bytes: Buffer): number {
  if (bytes.length === 0) return 0;
  if (bytes[0] !== 0x08 || bytes.length < 2) throw new Error(`unexpected HealthCheckResponse bytes ${bytes.toString('hex')}`);
  return bytes[1] as number;
}
