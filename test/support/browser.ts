import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page, type Response } from 'playwright-core';

/** Debian's Chromium (`make test` installs it when missing); Playwright never downloads a browser here. */
export const CHROMIUM_BIN = '/usr/bin/chromium';

/** Screenshots and other browser-test artifacts (gitignored). */
export const BROWSER_ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/browser');

/**
 * Launches headless Chromium with no network beyond what the test serves: no QUIC, no background
 * fetches, no component updates or sync. Playwright gives every launch a fresh temporary profile.
 * `hostMap` names resolve to 127.0.0.1 (e.g. `shop.example.test`), so cookies and origins can use a real
 * host name while everything stays on loopback.
 * @throws Error when Chromium is not installed.
 */
export async function launchBrowser(options: { hostMap?: readonly string[] } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM_BIN)) throw new Error(`${CHROMIUM_BIN} not found: run scripts/ensure-system-deps.sh e2e (or make test)`);
  const rules = (options.hostMap ?? []).map((host) => `MAP ${host} 127.0.0.1`).join(',');
  return chromium.launch({
    executablePath: CHROMIUM_BIN,
    headless: true,
    timeout: 15_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(rules !== '' ? [`--host-resolver-rules=${rules}`] : []),
    ],
  });
}

/** Saves a full-page screenshot as `test-artifacts/browser/<name>.png` and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(BROWSER_ARTIFACTS, { recursive: true });
  const path = resolve(BROWSER_ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** What a page must have to count as a real page: checked by {@link checkPage}. */
export interface PageFacts {
  readonly status: number;
  readonly lang: string | null;
  readonly title: string;
  readonly h1: readonly string[];
  readonly cacheControl: string | undefined;
  readonly contentType: string | undefined;
  readonly html: string;
  /** Visible text of the body. */
  readonly text: string;
}

/** Collects the facts about the page `response` loaded (status and headers from the response itself). */
export async function pageFacts(page: Page, response: Response): Promise<PageFacts> {
  const headers = await response.allHeaders();
  return {
    status: response.status(),
    lang: await page.locator('html').getAttribute('lang'),
    title: await page.title(),
    h1: await page.locator('h1').allInnerTexts(),
    cacheControl: headers['cache-control'],
    contentType: headers['content-type'],
    html: await page.content(),
    text: await page.locator('body').innerText(),
  };
}
