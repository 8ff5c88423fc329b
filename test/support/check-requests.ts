import type { UpstreamCheckRequest, UpstreamCheckResponse } from './envoy-client.js';

/** What one ext_authz Check looks like to the fault and security suites. */
export interface CheckShape {
  readonly path: string;
  readonly token?: string;
  readonly method?: string;
  readonly host?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Envoy's peer address (default 198.51.100.4). */
  readonly sourceAddress?: string;
  /** Envoy's `source.principal`: the caller workload's SPIFFE ID from mTLS (default none). */
  readonly sourcePrincipal?: string;
  readonly contextExtensions?: Readonly<Record<string, string>>;
  /** `accept: text/html` (a browser navigation). */
  readonly browser?: boolean;
}

/** An upstream-encoded CheckRequest as Envoy sends it (pseudo-headers and `http` fields agree). */
export function checkRequest(o: CheckShape): UpstreamCheckRequest {
  const method = o.method ?? 'GET';
  const host = o.host ?? 'shop.example.com';
  const headers: Record<string, string> = {
    ':authority': host,
    ':method': method,
    ':path': o.path,
    ':scheme': 'https',
    accept: o.browser ? 'text/html,application/xhtml+xml' : 'application/json',
    ...(o.token !== undefined ? { authorization: `Bearer ${o.token}` } : {}),
    ...o.headers,
  };
  return {
    attributes: {
      source: {
        address: { socket_address: { address: o.sourceAddress ?? '198.51.100.4', port_value: 40000 } },
        ...(o.sourcePrincipal !== undefined ? { principal: o.sourcePrincipal } : {}),
      },
      request: { http: { method, path: o.path, host, scheme: 'https', protocol: 'HTTP/1.1', headers } },
      ...(o.contextExtensions ? { context_extensions: { ...o.contextExtensions } } : {}),
    },
  };
}

/** True when the answer lets the request through (gRPC status OK with an ok_response). */
export function isAllow(res: UpstreamCheckResponse): boolean {
  return (res.status?.code ?? 0) === 0;
}

/** The problem document of a deny (empty object for an allow). */
export function problemOf(res: UpstreamCheckResponse): Record<string, unknown> {
  try {
    return JSON.parse(res.denied_response?.body || '{}') as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** `allow`, or the deny's `code` (e.g. `dependency_unavailable`). */
export function outcomeOf(res: UpstreamCheckResponse): string {
  if (isAllow(res)) return 'allow';
  const code = problemOf(res).code;
  return typeof code === 'string' ? code : `status_${res.denied_response?.status?.code ?? '?'}`;
}

export function okHeader(res: UpstreamCheckResponse, name: string): string | undefined {
  return res.ok_response?.headers?.find((h) => h.header.key === name)?.header.value;
}

export function deniedHeader(res: UpstreamCheckResponse, name: string): string | undefined {
  return res.denied_response?.headers?.find((h) => h.header.key === name)?.header.value;
}

/** Polls `fn` until `pred` holds or `timeoutMs` passes (bounded), returning the last value. */
export async function eventually<T>(fn: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 8_000, stepMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (!pred(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, stepMs));
    v = await fn();
  }
  return v;
}

/** Counts occurrences of each string. */
export function tally(values: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
