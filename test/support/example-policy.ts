import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseConfig } from '../../src/config/parse-config.js';
import type { IdgateConfig } from '../../src/config/types.js';
import { freePorts } from './redis-server.js';

/** The shipped example policy. */
export const EXAMPLE_CONFIG = resolve(import.meta.dirname, '../../examples/idgate.yaml');

/** examples/idgate.yaml, parsed as `idgate validate` does. */
export function loadExampleConfig(): IdgateConfig {
  return parseConfig(readFileSync(EXAMPLE_CONFIG, 'utf8'), { sourceName: 'examples/idgate.yaml', env: {} });
}

/**
 * Every identity header a policy can make idgate set (lower-case): the fixed `<prefix>subject`, `issuer`,
 * `verified`, every route's `claimHeaders` name and `headers.strip`. Read from the policy file, so tests of
 * the shipped proxy files can never drift from it.
 */
export function identityHeadersOf(config: IdgateConfig): string[] {
  const names = new Set(['subject', 'issuer', 'verified'].map((s) => config.headers.prefix + s));
  for (const route of config.policy.routes) for (const name of Object.keys(route.claimHeaders)) names.add(name.toLowerCase());
  for (const name of config.headers.strip) names.add(name.toLowerCase());
  return [...names].sort();
}

/** Every header the policy trusts as request context: the country header, device headers, `device` condition headers. */
export function contextHeadersOf(config: IdgateConfig): string[] {
  const names = new Set<string>();
  if (config.context.countryHeader !== undefined) names.add(config.context.countryHeader.toLowerCase());
  for (const name of config.context.deviceHeaders) names.add(name.toLowerCase());
  for (const route of config.policy.routes) {
    for (const c of route.conditions) if (c.when.kind === 'device' && c.when.header !== undefined) names.add(c.when.header.toLowerCase());
  }
  return [...names].sort();
}

/**
 * The spellings of a header name a client may use to forge it: lower, upper and title case, and `_` for
 * one or every `-` (WSGI/CGI/Rack read them all as the same variable).
 */
export function forgedSpellings(name: string): string[] {
  const title = name.replace(/(^|-)([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase());
  const parts = name.split('-');
  const out = new Set([name, name.toUpperCase(), title, name.replaceAll('-', '_'), title.replaceAll('-', '_')]);
  for (let i = 1; i < parts.length; i++) out.add(`${parts.slice(0, i).join('-')}_${parts.slice(i).join('-')}`);
  return [...out];
}

/** Ports for {@link renderExampleConfig}. */
export interface ExampleConfigPorts {
  readonly grpc: number;
  readonly http: number;
  readonly public: number;
  readonly admin: number;
  readonly demoIssuer: number;
  readonly sandbox: number;
}

/** Free ports for every listener of the example (the demo issuer's must be known before start: it is in the issuer URL). */
export async function freeExamplePorts(): Promise<ExampleConfigPorts> {
  // Six distinct ports: picked one after another, a port just released could come back (two roles, one port).
  const [grpc, http, pub, admin, demoIssuer, sandbox] = (await freePorts(6)) as [number, number, number, number, number, number];
  return { grpc, http, public: pub, admin, demoIssuer, sandbox };
}

/**
 * examples/idgate.yaml with its port numbers replaced — nothing else — so a test runs the policy users copy
 * next to other test runs on the same machine.
 * @throws Error when a port no longer appears as often as expected (the example and this harness drifted).
 */
export function renderExampleConfig(ports: ExampleConfigPorts): string {
  let text = readFileSync(EXAMPLE_CONFIG, 'utf8');
  const replacements: Array<[RegExp, number, string]> = [
    [/\b9191\b/g, 1, String(ports.grpc)],
    [/\b9192\b/g, 1, String(ports.http)],
    [/\b8080\b/g, 1, String(ports.public)], // public.baseUrl is derived from the port
    [/\b9090\b/g, 1, String(ports.admin)],
    [/\b8098\b/g, 3, String(ports.demoIssuer)], // the port and two comments: the issuer entry is derived
    [/\b8099\b/g, 1, String(ports.sandbox)],
  ];
  for (const [re, count, to] of replacements) {
    const found = text.match(re)?.length ?? 0;
    if (found !== count) throw new Error(`examples/idgate.yaml: expected ${re.source} ${count} times, found ${found}`);
    text = text.replace(re, to);
  }
  return text;
}
