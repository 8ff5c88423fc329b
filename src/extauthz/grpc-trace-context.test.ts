import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { proxyTraceContext, TRACE_CONTEXT_HEADERS } from '../tracing/tracing.js';
import { grpcTraceContext } from './grpc-trace-context.js';

/** Read from grpc-js's own map, the trace context must be what the public `Metadata.get` gives. */
const publicRead = (md: Metadata) => proxyTraceContext((name) => md.get(name)[0]);

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const SHAPES: readonly [string, Record<string, string | string[]>][] = [
  ['none', { 'content-type': 'application/grpc', te: 'trailers', 'x-envoy-internal': 'true' }],
  ['W3C', { 'content-type': 'application/grpc', traceparent: TRACEPARENT, tracestate: 'a=1' }],
  ['B3 multi, repeated values', { 'x-b3-traceid': ['1', '2'], 'x-b3-spanid': '3', 'x-b3-sampled': '1', 'x-b3-flags': '0' }],
  ['every name', Object.fromEntries(TRACE_CONTEXT_HEADERS.map((name, i) => [name, `v${i}`]))],
];

describe('grpcTraceContext', () => {
  it.each(SHAPES)('reads what Metadata.get reads (%s)', (_name, headers) => {
    const md = Metadata.fromHttp2Headers(headers);
    expect(grpcTraceContext(md)).toEqual(publicRead(md));
  });

  it('reads names set in any case, as grpc-js stores them', () => {
    const md = new Metadata();
    md.set('TraceParent', TRACEPARENT);
    md.add('B3', 'x');
    expect(grpcTraceContext(md)).toEqual({ traceparent: TRACEPARENT, b3: 'x' });
    expect(grpcTraceContext(md)).toEqual(publicRead(md));
  });

  it('is undefined without a trace header, and ignores binary values', () => {
    const md = new Metadata();
    md.set('b3-bin', Buffer.from('x'));
    expect(grpcTraceContext(md)).toBeUndefined();
  });

  it('uses the public get when grpc-js has no internal map', () => {
    const md = Metadata.fromHttp2Headers({ b3: 'y' });
    const bare = { get: (name: string) => md.get(name) } as unknown as Metadata;
    expect(grpcTraceContext(bare)).toEqual({ b3: 'y' });
  });
});
