import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSync } from '@grpc/proto-loader';

/**
 * The parts of a benchmark CheckRequest that vary between scenarios; everything else is a fixed, realistic
 * request as an Envoy sidecar in front of a web shop would send it.
 */
export interface CheckRequestSpec {
  /** The caller's JWT, sent as `authorization: Bearer <token>`; omitted = no authorization header. */
  readonly token?: string;
  /** Request path including the query (default `/api/orders?page=2`). */
  readonly path?: string;
  /** Default `GET`. */
  readonly method?: string;
  /** Default `shop.example.com`. */
  readonly host?: string;
  /** Envoy's per-route `context_extensions`, e.g. `{ policy: 'orders' }`. */
  readonly contextExtensions?: Readonly<Record<string, string>>;
  /** Request id (default a fixed UUID; unique ids change nothing in idgate's work). */
  readonly requestId?: string;
}

/** Encodes and decodes `envoy.service.auth.v3.CheckRequest` / `CheckResponse` with the upstream Envoy protos. */
export interface CheckCodec {
  /** Protobuf bytes of a CheckRequest given as a proto-loader object (snake_case keys). */
  serializeRequest(request: object): Buffer;
  /** The CheckRequest decoded back (snake_case keys, longs as strings). */
  deserializeRequest(bytes: Buffer): Record<string, unknown>;
  /** The CheckResponse decoded (snake_case keys, enums as numbers). */
  deserializeResponse(bytes: Buffer): Record<string, unknown>;
  /** Protobuf bytes of a CheckResponse given as a proto-loader object (the transport floor's fixed reply). */
  serializeResponse(response: object): Buffer;
}

const UPSTREAM_DIRS = ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'] as const;

/**
 * Finds `node_modules/@grpc/grpc-js-xds/deps` walking up from this module (works from `bench/` and from
 * `dist/bench/`).
 * @throws Error naming the directories tried when the upstream protos are not installed.
 */
export function findUpstreamProtoDeps(): string {
  const tried: string[] = [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i += 1) {
    const candidate = join(dir, 'node_modules', '@grpc', 'grpc-js-xds', 'deps');
    if (existsSync(join(candidate, 'envoy-api', 'envoy', 'service', 'auth', 'v3', 'external_auth.proto'))) {
      return candidate;
    }
    tried.push(candidate);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`upstream Envoy protos not found (tried ${tried.join(', ')}); run npm ci`);
}

/**
 * Loads the **upstream** Envoy `external_auth.proto` (from @grpc/grpc-js-xds) through proto-loader, whose
 * serializers are protobufjs, so the bench encodes requests independently of idgate's own `proto/` copy:
 * a field idgate's copy got wrong shows up as a decoding difference, not as a silent agreement.
 * @throws Error when the protos are missing or do not define `Authorization.Check`.
 */
export function loadUpstreamCheckCodec(): CheckCodec {
  const deps = findUpstreamProtoDeps();
  const definition = loadSync('envoy/service/auth/v3/external_auth.proto', {
    keepCase: true,
    longs: String,
    enums: Number,
    defaults: false,
    oneofs: true,
    includeDirs: UPSTREAM_DIRS.map((d) => join(deps, d)),
  });
  const service = definition['envoy.service.auth.v3.Authorization'] as
    | Record<
        string,
        {
          requestSerialize(v: object): Buffer;
          requestDeserialize(b: Buffer): unknown;
          responseSerialize(v: object): Buffer;
          responseDeserialize(b: Buffer): unknown;
        }
      >
    | undefined;
  const check = service?.['Check'];
  if (check === undefined) throw new Error('upstream protos do not define envoy.service.auth.v3.Authorization/Check');
  return {
    serializeRequest: (request) => check.requestSerialize(request),
    deserializeRequest: (bytes) => check.requestDeserialize(bytes) as Record<string, unknown>,
    deserializeResponse: (bytes) => check.responseDeserialize(bytes) as Record<string, unknown>,
    serializeResponse: (response) => check.responseSerialize(response),
  };
}

/**
 * The CheckRequest for `spec` as a proto-loader object: source 10.0.0.7:51234 with an Istio SPIFFE
 * principal, destination 10.0.0.20:8080, and `request.http` carrying GET, path, host, https, HTTP/2 and a
 * dozen headers a browser-fronted API call carries through Envoy.
 */
export function buildCheckRequest(spec: CheckRequestSpec): object {
  const path = spec.path ?? '/api/orders?page=2';
  const method = spec.method ?? 'GET';
  const host = spec.host ?? 'shop.example.com';
  const requestId = spec.requestId ?? '6f1c2b9e-3d4a-4e5f-9a8b-7c6d5e4f3a2b';
  const headers: Record<string, string> = {
    ':authority': host,
    ':method': method,
    ':path': path,
    ':scheme': 'https',
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
    accept: 'application/json, text/plain, */*',
    'accept-encoding': 'gzip, deflate, br',
    'accept-language': 'en-GB,en;q=0.9',
    'x-request-id': requestId,
    'x-forwarded-proto': 'https',
    'x-forwarded-for': '203.0.113.45',
    cookie: 'theme=dark; cart=4f9a2c; _ga=GA1.2.1234567890.1700000000',
  };
  if (spec.token !== undefined) headers['authorization'] = `Bearer ${spec.token}`;
  const request: Record<string, unknown> = {
    attributes: {
      source: {
        address: { socket_address: { address: '10.0.0.7', port_value: 51234 } },
        principal: 'spiffe://cluster.local/ns/shop/sa/frontend',
      },
      destination: {
        address: { socket_address: { address: '10.0.0.20', port_value: 8080 } },
        principal: 'spiffe://cluster.local/ns/shop/sa/orders',
      },
      request: {
        time: { seconds: '1700000000', nanos: 0 },
        http: {
          id: '1234567890123456789',
          method,
          headers,
          path,
          host,
          scheme: 'https',
          protocol: 'HTTP/2',
          size: '0',
        },
      },
      ...(spec.contextExtensions !== undefined ? { context_extensions: { ...spec.contextExtensions } } : {}),
    },
  };
  return request;
}

/**
 * Wraps protobuf bytes in a gRPC length-prefixed message: 1 byte compressed-flag (0), 4 bytes big-endian
 * length, then the bytes — exactly the HTTP/2 DATA payload of a unary gRPC request.
 * @throws RangeError when the message is larger than 4 GiB − 1.
 */
export function grpcFrame(message: Uint8Array): Buffer {
  if (message.length > 0xffff_ffff) throw new RangeError('gRPC message too large for a length prefix');
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/**
 * The full h2load request body for `spec`: {@link buildCheckRequest} encoded with `codec` and framed with
 * {@link grpcFrame}.
 */
export function encodeCheckRequest(codec: CheckCodec, spec: CheckRequestSpec): Buffer {
  return grpcFrame(codec.serializeRequest(buildCheckRequest(spec)));
}

/**
 * Splits one gRPC length-prefixed message off the front of `data`.
 * @returns the message bytes, or undefined when `data` does not hold a complete, uncompressed message.
 */
export function unframeGrpc(data: Buffer): Buffer | undefined {
  if (data.length < 5 || data.readUInt8(0) !== 0) return undefined;
  const length = data.readUInt32BE(1);
  if (data.length < 5 + length) return undefined;
  return data.subarray(5, 5 + length);
}
