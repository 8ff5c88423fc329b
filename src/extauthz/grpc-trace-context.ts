import type { Metadata } from '@grpc/grpc-js';
import { proxyTraceContext } from '../tracing/tracing.js';

/** grpc-js's own store of a call's metadata: lower-case key → values (`Metadata.internalRepr`, protected). */
type MetadataStore = ReadonlyMap<string, readonly unknown[]>;

/**
 * The trace context of the proxy's Check call (see {@link proxyTraceContext}), read from grpc-js's own
 * key → values map instead of through `Metadata.get`. Per Check the eight names are almost always absent,
 * and each public `get` miss lower-cases the name (a new string) and answers a new empty array: ~0.5 KB
 * and ~85 ns per Check, against nothing and ~40 ns here (bench/README.md, "Hot path, seventh round"). The
 * public API has no cheaper presence test (`getMap` and `toJSON` build an object of every key). grpc-js
 * keeps every key lower-cased in that map (`set`/`add` normalize), and our names are lower-case, so the
 * answers are the same; should a grpc-js version not have the map, the public `get` is used.
 */
export function grpcTraceContext(metadata: Metadata): Readonly<Record<string, string>> | undefined {
  const store = (metadata as unknown as { internalRepr?: unknown }).internalRepr;
  if (!(store instanceof Map)) return proxyTraceContext((name) => metadata.get(name)[0]);
  const map = store as MetadataStore;
  return proxyTraceContext((name) => map.get(name)?.[0]);
}
