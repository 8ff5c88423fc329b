/**
 * The plain-object shapes of the two ext_authz messages on the hot path, as the hand codec
 * (check-codec.ts) reads and writes them: what a decoded `envoy.service.auth.v3.CheckRequest` holds, and
 * what a `CheckResponse` is built from. They follow @grpc/proto-loader's object form (`keepCase: true`,
 * `longs: String`, `defaults: false`, `oneofs: true`) so the codec is checked against protobufjs field for
 * field (check-codec.test.ts).
 */

/**
 * The subset of a decoded `envoy.service.auth.v3.CheckRequest` idgate reads, as produced by
 * @grpc/proto-loader with `keepCase: true, longs: String, defaults: false, oneofs: true` (absent fields are
 * `undefined`; bytes are Buffers; `google.protobuf.Struct`/`Value` keep protobufjs's camelCase names).
 */
export interface CheckRequestMessage {
  attributes?: {
    source?: PeerMessage | null;
    destination?: PeerMessage | null;
    request?: {
      time?: { seconds?: string | number | null; nanos?: number | null } | null;
      http?: HttpRequestMessage | null;
    } | null;
    context_extensions?: Record<string, string> | null;
    metadata_context?: MetadataMessage | null;
    route_metadata_context?: MetadataMessage | null;
    tls_session?: { sni?: string | null } | null;
  } | null;
}

/** `AttributeContext.Peer`: only `address` and `principal` are read. */
export interface PeerMessage {
  address?: { socket_address?: { address?: string | null; port_value?: number | null } | null } | null;
  principal?: string | null;
}

/** `AttributeContext.HttpRequest` as decoded (query/fragment/size are not declared in our proto). */
export interface HttpRequestMessage {
  id?: string | null;
  method?: string | null;
  headers?: Record<string, string> | null;
  /**
   * Not a wire field: the names of {@link headers} in insertion order, each once, as `decodeCheckRequest`
   * read them (null when it could not list them in `for…in` order). Whoever adds to `headers` afterwards
   * must drop it.
   */
  header_names?: string[] | null;
  header_map?: { headers?: readonly HeaderValueMessage[] | null } | null;
  path?: string | null;
  host?: string | null;
  scheme?: string | null;
  protocol?: string | null;
  body?: string | null;
  raw_body?: Uint8Array | null;
}

/** `config.core.v3.HeaderValue`: Envoy fills `raw_value` in `header_map`; `value` is read as a fallback. */
export interface HeaderValueMessage {
  key?: string | null;
  value?: string | null;
  raw_value?: Uint8Array | null;
}

/** `config.core.v3.Metadata`: namespace → Struct. */
export interface MetadataMessage {
  filter_metadata?: Record<string, StructMessage> | null;
}

/** protobufjs's `google.protobuf.Struct` object form (camelCase even with keepCase). */
export interface StructMessage {
  fields?: Record<string, ValueMessage> | null;
}

/** protobufjs's `google.protobuf.Value` object form: exactly one member is set. */
export interface ValueMessage {
  nullValue?: number | string | null;
  numberValue?: number | null;
  stringValue?: string | null;
  boolValue?: boolean | null;
  structValue?: StructMessage | null;
  listValue?: { values?: readonly ValueMessage[] | null } | null;
}

/** A `google.protobuf.Value` in protobufjs object form (camelCase keys even with `keepCase`). */
export type StructValueObject = { stringValue: string } | { numberValue: number } | { boolValue: boolean };

/** A `google.protobuf.Struct` in protobufjs object form. */
export interface StructObject {
  fields: Record<string, StructValueObject>;
}

/** `config.core.v3.HeaderValueOption`; `append` is the BoolValue wrapper, set only on upstream headers. */
export interface HeaderValueOptionObject {
  header: { key: string; value: string };
  append?: { readonly value: boolean };
}

/**
 * A CheckResponse as a plain object for @grpc/proto-loader (`keepCase: true`): exactly one of
 * `ok_response` / `denied_response` is set, and `status` is always present (an absent status means allow).
 */
export interface CheckResponseObject {
  status: { code: number; message?: string };
  ok_response?: { headers: HeaderValueOptionObject[]; headers_to_remove: readonly string[] };
  denied_response?: { status: { code: number }; headers: HeaderValueOptionObject[]; body: string };
  dynamic_metadata: StructObject;
}
