import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { foldHeaderName } from '../../src/core/identity-header-name.js';
import {
  contextHeadersOf,
  forgedSpellings,
  freeExamplePorts,
  identityHeadersOf,
  loadExampleConfig,
  renderExampleConfig,
  type ExampleConfigPorts,
} from '../support/example-policy.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { NGINX_EXAMPLE, renderNginxExample, startNginx, type NginxHandle } from '../support/nginx.js';
import { startUpstreamApp, type UpstreamApp } from '../support/upstream-app.js';

/**
 * Issue 11 §2, the attacker's path through the shipped nginx integration: real nginx running
 * examples/nginx/idgate.conf and `idgate serve` running examples/idgate.yaml, both exactly as shipped
 * (only ports replaced), in front of an echo app. The list of identity and context headers is read from the
 * policy file, so a claimHeaders mapping added there without the nginx file following fails this test.
 * Build first: `npx tsc -p .`.
 */

const config = loadExampleConfig();
const IDENTITY = identityHeadersOf(config);
const CONTEXT = contextHeadersOf(config);

let ports: ExampleConfigPorts;
let idgate: IdgateProcess;
let app: UpstreamApp;
let nginx: NginxHandle;

interface Response {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

function send(path: string, headers: Record<string, string>): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: nginx.port, path, headers: { host: `127.0.0.1:${nginx.port}`, ...headers }, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function demoToken(query: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${ports.demoIssuer}/token?${query}`);
  expect(res.status).toBe(200);
  return (await res.text()).trim();
}

/** Every header the app received whose folded name is in `names`, over all requests so far. */
function upstreamCopies(names: readonly string[]): Array<[string, string]> {
  const wanted = new Set(names);
  const out: Array<[string, string]> = [];
  for (const r of app.requests) {
    for (const [k, v] of Object.entries(r.headers)) if (wanted.has(foldHeaderName(k))) out.push([k, String(v)]);
  }
  return out;
}

beforeAll(async () => {
  ports = await freeExamplePorts();
  app = await startUpstreamApp();
  idgate = await startIdgate({ configYaml: renderExampleConfig(ports) });
  nginx = await startNginx({ serverConfig: (listen) => renderNginxExample({ listen, authz: ports.http, public: ports.public, app: app.port }) });
}, 30_000);

afterAll(async () => {
  await nginx?.stop();
  await idgate?.stop();
  await app?.close();
});

describe('the header lists come from the policy file', () => {
  it('knows the example policy sets roles and client besides the fixed headers', () => {
    expect(IDENTITY).toEqual(['x-idgate-client', 'x-idgate-email', 'x-idgate-issuer', 'x-idgate-roles', 'x-idgate-subject', 'x-idgate-verified']);
    expect(CONTEXT).toEqual(['x-device-id', 'x-device-managed', 'x-geo-country']);
  });

  it('examples/nginx/idgate.conf overwrites every identity header and clears every context header', () => {
    const text = readFileSync(NGINX_EXAMPLE, 'utf8');
    const block = (start: string): string => {
      const i = text.indexOf(start);
      expect(i, start).toBeGreaterThan(0);
      return text.slice(i, text.indexOf('\n    }\n', i));
    };
    const sets = (b: string) => new Set([...b.matchAll(/^\s*proxy_set_header\s+(\S+)\s+(\S.*);/gm)].map((m) => m[1]!.toLowerCase()));
    const app = sets(block('location / {'));
    const authz = sets(block('location = /_idgate {'));
    for (const h of IDENTITY) {
      expect(app, h).toContain(h);
      // The value comes from idgate's answer, read with auth_request_set.
      expect(text).toMatch(new RegExp(`auth_request_set \\$\\w+\\s+\\$upstream_http_${h.replaceAll('-', '_')};`));
    }
    for (const h of CONTEXT) {
      expect(app, h).toContain(h);
      expect(authz, h).toContain(h);
    }
    expect(text).toMatch(/^\s*underscores_in_headers off;/m);
    expect(text).toMatch(/^\s*ignore_invalid_headers on;/m);
  });
});

describe('no client-forged identity or context header reaches the app behind the shipped nginx file', () => {
  it('passes idgate\'s own identity headers (roles too) for a viewer token', async () => {
    const token = await demoToken('sub=vic&scope=read&roles=viewer');
    const before = app.requests.length;
    const res = await send('/api/orders', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    const seen = app.requests.slice(before).at(-1)!;
    expect(seen.headers['x-idgate-subject']).toBe('demo:vic');
    expect(seen.headers['x-idgate-roles']).toBe('viewer');
  });

  it('refuses a viewer token that claims to be admin with X-Idgate-Roles (the reported attack)', async () => {
    const token = await demoToken('sub=vic&scope=read&roles=viewer');
    const before = app.requests.length;
    const res = await send('/api/orders', { authorization: `Bearer ${token}`, 'X-Idgate-Roles': 'admin' });
    expect(res.status).toBe(400);
    expect(res.headers['x-idgate-reason']).toBe('request_invalid');
    expect(app.requests.length).toBe(before);
  });

  it('every spelling of every identity header, on an allowed and two public routes', async () => {
    const token = await demoToken('sub=vic&scope=read&roles=viewer');
    const targets: Array<[string, Record<string, string>]> = [
      ['/api/orders', { authorization: `Bearer ${token}` }],
      ['/healthz', {}],
      ['/public/site.css', {}],
    ];
    let sent = 0;
    let refused = 0;
    let dropped = 0;
    for (const name of IDENTITY) {
      for (const spelling of forgedSpellings(name)) {
        for (const [path, headers] of targets) {
          const before = app.requests.length;
          const res = await send(path, { ...headers, [spelling]: `forged-${spelling}` });
          sent++;
          if (spelling.includes('_')) {
            // nginx drops names with `_` (underscores_in_headers off, ignore_invalid_headers on): the
            // request goes on without it, and neither idgate nor the app ever sees it.
            expect(res.status, `${spelling} ${path}`).toBe(200);
            expect(app.requests.length).toBe(before + 1);
            dropped++;
          } else {
            expect([res.status, res.headers['x-idgate-reason']], `${spelling} ${path}`).toEqual([400, 'request_invalid']);
            expect(app.requests.length).toBe(before);
            refused++;
          }
        }
      }
    }
    const forged = upstreamCopies(IDENTITY).filter(([, v]) => v.startsWith('forged'));
    expect(forged).toEqual([]);
    // The counts docs/security.md quotes: 3 `-` spellings (lower, UPPER, Title) and 4 `_` ones per
    // three-part name, on 3 routes.
    expect([sent, refused, dropped]).toEqual([IDENTITY.length * 7 * 3, IDENTITY.length * 3 * 3, IDENTITY.length * 4 * 3]);
    console.log(`[scorecard] nginx forged identity headers: ${sent} requests (${IDENTITY.length} headers × spellings × 3 routes): ${refused} refused 400, ${dropped} passed with the header dropped, ${forged.length} forged values upstream`);
  }, 60_000);

  it('clears client copies of the trusted context headers before idgate and the app see them', async () => {
    const token = await demoToken('sub=vic&scope=read&roles=viewer');
    const before = app.requests.length;
    // Malformed on purpose: had idgate seen either, it would deny (device_denied / country_denied).
    for (const name of CONTEXT) {
      for (const spelling of forgedSpellings(name)) {
        const value = name === 'x-geo-country' ? 'US,KP' : 'yes,no';
        const res = await send('/api/orders', { authorization: `Bearer ${token}`, [spelling]: value });
        expect(res.status, spelling).toBe(200);
      }
    }
    expect(app.requests.length - before).toBe(CONTEXT.length * 7);
    expect(upstreamCopies(CONTEXT)).toEqual([]);
    console.log(`[scorecard] nginx forged context headers: ${app.requests.length - before} requests, all 200, 0 context headers upstream`);
  }, 30_000);
});
