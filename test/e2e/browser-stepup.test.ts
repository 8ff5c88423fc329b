import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, pageFacts, saveScreenshot, type PageFacts } from '../support/browser.js';
import { testConfigYaml } from '../support/config-yaml.js';
import { startIdgate, type IdgateProcess } from '../support/idgate-process.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { freePort, renderNginxExample, startNginx, type NginxHandle } from '../support/nginx.js';
import { createTestKey, jwksOf, mintToken, type TestKey } from '../support/tokens.js';
import { startUpstreamApp, type UpstreamApp } from '../support/upstream-app.js';

/**
 * A real browser through the whole step-up: headless Chromium → nginx (examples/nginx/idgate.conf) →
 * idgate `serve` with the embedded Didit sandbox → the sandbox's hosted page → Approve/Decline → idgate's
 * callback → back through nginx. The token travels in a cookie, as in a web app. Screenshots of every
 * step land in test-artifacts/browser/. Build first: `npx tsc -p .`.
 */

const SITE = 'shop.example.test';
const API_KEY = 'browser-api-key';
const WEBHOOK_SECRET = 'browser-webhook-secret-0123456789';

let jwks: JwksServer;
let key: TestKey;
let app: UpstreamApp;
let idgate: IdgateProcess;
let nginx: NginxHandle;
let browser: Browser;
let origin: string;
/** True in the suite where a Check never waits for Didit: every first visit goes through idgate's start URL. */
let viaStartUrl = false;
let shotPrefix = '';

/** A fresh browser context holding `sub`'s token as the `idgate_token` cookie of the shop. */
async function visitorWithToken(sub: string): Promise<{ context: BrowserContext; page: Page; token: string; responses: Response[] }> {
  const token = await mintToken(key, { iss: jwks.url, aud: 'idgate-test', now: Date.now(), sub, ttlSeconds: 600 });
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  await context.addCookies([{ name: 'idgate_token', value: token, domain: SITE, path: '/', httpOnly: true, sameSite: 'Lax' }]);
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.setDefaultNavigationTimeout(10_000);
  const responses: Response[] = [];
  page.on('response', (r) => responses.push(r));
  return { context, page, token, responses };
}

/** Goes to a protected page through nginx and checks it lands on the sandbox's hosted Didit page. */
async function openProtectedPage(page: Page, responses: Response[], path: string): Promise<Response> {
  const hostedUrl = new RegExp(`^http://127\\.0\\.0\\.1:${idgate.ports.sandbox}/session/[A-Za-z0-9]+$`);
  let landed = await page.goto(`${origin}${path}`);
  expect(landed).not.toBeNull();
  // The redirect chain: the protected page, then the hosted page — or, when the session was still being
  // created, idgate's own start URL: a page whose form the browser submits at once (a GET creates no
  // session), and the POST's redirect to the hosted page.
  const chain: string[] = [];
  for (let r = landed!.request().redirectedFrom(); r !== null; r = r.redirectedFrom()) chain.unshift(r.url());
  expect(chain).toEqual([`${origin}${path}`]);
  const start = /\/verification\/start\/[A-Za-z0-9_-]+$/.test(landed!.url());
  if (viaStartUrl) expect(start).toBe(true);
  if (start) {
    expect(landed!.status()).toBe(200);
    // The script may have submitted before goto() returned: wait for the URL, then find its response.
    await page.waitForURL(hostedUrl);
    const submitted = responses.find((r) => hostedUrl.test(r.url()));
    const posted = submitted?.request().redirectedFrom();
    expect(posted?.url()).toBe(landed!.url());
    expect(posted?.method()).toBe('POST');
    landed = submitted!;
  }
  const first = responses.find((r) => r.url() === `${origin}${path}`)!;
  expect(first.status()).toBe(302);
  expect((await first.allHeaders())['cache-control']).toBe('no-store');
  expect(page.url()).toMatch(hostedUrl);
  return landed!;
}

/** The common bar for every HTML page a person sees on the way. */
function expectRealPage(facts: PageFacts, secrets: readonly string[]): void {
  expect(facts.lang).toBe('en');
  expect(facts.title.length).toBeGreaterThan(3);
  expect(facts.h1).toHaveLength(1);
  expect(facts.cacheControl).toBe('no-store');
  expect(facts.contentType).toContain('text/html');
  expect(facts.text.length).toBeGreaterThan(40);
  for (const secret of secrets) expect(facts.html).not.toContain(secret);
}

/**
 * The suite twice: with the default test wait (Didit's URL handed out directly) and with `stepUpWait: 0s`, where
 * every first visit is answered at once with idgate's own start URL (issue 13) and the browser follows it
 * through the shipped nginx `error_page 401` flow to the hosted page.
 */
for (const [viaStartUrlName, stepUpWait] of [['', undefined], [' via the start URL', '0s']] as const) {
  describe(`browser step-up through nginx${viaStartUrlName}`, () => {
    beforeAll(async () => {
      viaStartUrl = stepUpWait !== undefined;
      shotPrefix = viaStartUrl ? 'start-url-' : '';
      key = await createTestKey('ES256', 'k1');
      jwks = await startJwksServer({ keys: jwksOf(key) });
      app = await startUpstreamApp();
      const port = await freePort();
      origin = `http://${SITE}:${port}`;
      idgate = await startIdgate({
        configYaml: testConfigYaml({
          issuer: jwks.url,
          jwksUri: jwks.jwksUrl,
          trustedProxies: ['127.0.0.1/32'],
          cookieToken: 'idgate_token',
          didit: {
            apiKey: API_KEY,
            webhookSecret: WEBHOOK_SECRET,
            kycWorkflowId: '11111111-2222-4333-8444-000000000001',
            ageWorkflowId: '11111111-2222-4333-8444-000000000002',
            // The callback runs on 127.0.0.1 and the shop on another host name: only the allowlist lets the
            // callback send the browser back there.
            returnToAllowlist: [origin],
            ...(stepUpWait !== undefined ? { stepUpWait } : {}),
          },
        }),
      });
      nginx = await startNginx({
        port,
        serverConfig: (listen) => renderNginxExample({ listen, authz: idgate.ports.http!, public: idgate.ports.public!, app: app.port }),
      });
      browser = await launchBrowser({ hostMap: [SITE] });
    }, 40_000);

    afterAll(async () => {
      await browser?.close();
      await nginx?.stop();
      await idgate?.stop();
      await app?.close();
      await jwks?.close();
    });

    it('walks protected page → Didit hosted page → Approve → back on the page, now allowed', async () => {
      const { context, page, token, responses } = await visitorWithToken('alice');
      try {
        const hosted = await openProtectedPage(page, responses, '/payments/checkout?cart=7');
        const facts = await pageFacts(page, hosted);
        expect(facts.status).toBe(200);
        expect(facts.h1).toEqual(['Verify your identity']);
        expectRealPage(facts, [token, API_KEY, WEBHOOK_SECRET]);
        await saveScreenshot(page, shotPrefix + '1-approve-hosted-page');

        await Promise.all([
          page.waitForURL(`${origin}/payments/checkout?cart=7`),
          page.getByRole('button', { name: 'Approve' }).click(),
        ]);
        const callback = responses.find((r) => r.url().includes('/verification/callback?'));
        expect(callback?.status()).toBe(302);
        expect((await callback!.allHeaders())['cache-control']).toBe('no-store');
        expect(await callback!.headerValue('location')).toBe(`${origin}/payments/checkout?cart=7`);

        expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe('Upstream app');
        const last = responses.at(-1)!;
        expect(last.url()).toBe(`${origin}/payments/checkout?cart=7`);
        expect(last.status()).toBe(200);
        expect(await page.locator('#subject').innerText()).toBe('test:alice');
        const echoed = JSON.parse(await page.locator('#echo').innerText()) as { url: string; headers: Record<string, string> };
        expect(echoed.url).toBe('/payments/checkout?cart=7');
        expect(echoed.headers['x-idgate-verified']).toContain('kyc');
        await saveScreenshot(page, shotPrefix + '2-approve-back-on-app');
      } finally {
        await context.close();
      }
    });

    it('walks protected page → Didit hosted page → Decline → a clear "declined" page (403)', async () => {
      const { context, page, token, responses } = await visitorWithToken('bob');
      try {
        await openProtectedPage(page, responses, '/payments/checkout');
        await saveScreenshot(page, shotPrefix + '3-decline-hosted-page');

        const [declined] = await Promise.all([
          page.waitForResponse((r) => r.url().includes('/verification/callback?')),
          page.getByRole('button', { name: 'Decline' }).click(),
        ]);
        await page.waitForLoadState('load');
        const facts = await pageFacts(page, declined);
        expect(facts.status).toBe(403);
        expect(facts.h1[0]).toMatch(/declined/i);
        expect(facts.title).toMatch(/declined/i);
        expectRealPage(facts, [token, API_KEY, WEBHOOK_SECRET]);
        expect(await page.getByRole('heading', { level: 1, name: /declined/i }).isVisible()).toBe(true);
        await saveScreenshot(page, shotPrefix + '4-decline-declined-page');

        // Going back to the protected page now is a clear 403 from idgate, not another verification loop.
        const again = await page.goto(`${origin}/payments/checkout`);
        expect(again?.status()).toBe(403);
        expect(await again?.headerValue('x-idgate-reason')).toBe('verification_declined');
        expect(app.requests.some((r) => r.headers['x-idgate-subject'] === 'test:bob')).toBe(false);
      } finally {
        await context.close();
      }
    });
  });
}
