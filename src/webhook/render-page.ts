import { createHash } from 'node:crypto';
import { escapeHtml, renderHtmlDocument } from '../http/render-html-document.js';

/** The interstitial pages idgate shows a browser around a verification. */
export type PageKind =
  | 'in_review'
  | 'declined'
  | 'pending'
  | 'verified'
  | 'error'
  | 'start_invalid'
  | 'start_expired'
  | 'start_unavailable'
  | 'start_loop';

interface PageText {
  readonly title: string;
  readonly heading: string;
  readonly body: string;
}

const TEXT: Readonly<Record<PageKind, PageText>> = {
  in_review: {
    title: 'Verification under review',
    heading: 'Your verification is under review',
    body: 'Thanks — your identity verification was submitted and is waiting for a manual review. You will be able to continue once it is approved. You can close this page.',
  },
  declined: {
    title: 'Verification declined',
    heading: 'Your verification was declined',
    body: 'The identity verification could not be approved, so the page you asked for stays closed. If you think this is a mistake, contact the service that sent you here.',
  },
  pending: {
    title: 'Finishing your verification',
    heading: 'Finishing your verification…',
    body: 'We are waiting for the result of your identity verification. This page checks again automatically in a few seconds.',
  },
  verified: {
    title: 'Verification complete',
    heading: 'You are verified',
    // Shown only when there is no validated page to send the browser back to — typically a step-up that
    // started from an API client, a CLI or curl, which cannot be "returned to" with a link.
    body: 'Your identity verification is complete. If an app, a script or a command line sent you here, go back to it and repeat the request: it is now allowed. Otherwise return to the page you were visiting. You can close this page.',
  },
  error: {
    title: 'Verification link not recognised',
    heading: 'This verification link is not recognised',
    body: 'The link is incomplete or has expired. Go back to the page you were visiting and start again.',
  },
  start_invalid: {
    title: 'Verification link not valid',
    heading: 'This verification link is not valid',
    body: 'The link was changed or was not issued by this service, so no verification was started. Go back to the page you were visiting and start again from there.',
  },
  start_expired: {
    title: 'Verification link expired',
    heading: 'This verification link has expired',
    body: 'Verification links are only valid for a few minutes. Go back to the page you were visiting: it will give you a new link.',
  },
  start_unavailable: {
    title: 'Verification temporarily unavailable',
    heading: 'The verification service is not answering right now',
    body: 'We could not open your identity verification just now. Nothing was lost and no attempt was used up. Please try again in a few seconds.',
  },
  start_loop: {
    title: 'Too many verification attempts',
    heading: 'Too many verification attempts',
    body: 'Several verifications were started for your account in a short time. Please wait a while before starting another one.',
  },
};

/**
 * Renders a small, self-contained, accessible HTML page (no scripts, no external assets, no secrets): `lang`,
 * a `<title>`, exactly one `<h1>` and a plain-language explanation.
 * `refreshUrl` adds a meta refresh (pending page) and a link to check again at once, so nobody depends on
 * the timed refresh; `continueUrl` adds a link back (already validated); `retryUrl` a "Try again" link
 * without a timed refresh (a page shown because a dependency failed must not hammer it). The caller sends it with
 * `cache-control: no-store`.
 */
/** The response headers of every HTML page idgate serves: never cached, no sniffing, no scripts, no referrer. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
  'referrer-policy': 'no-referrer',
});

export function renderPage(kind: PageKind, options: { refreshUrl?: string; continueUrl?: string; retryUrl?: string } = {}): string {
  const t = TEXT[kind];
  const refresh = options.refreshUrl
    ? `<meta http-equiv="refresh" content="3;url=${escapeHtml(options.refreshUrl)}">`
    : '';
  const link = options.continueUrl
    ? `<p><a href="${escapeHtml(options.continueUrl)}">Continue</a></p>`
    : options.retryUrl
      ? `<p><a href="${escapeHtml(options.retryUrl)}">Try again</a></p>`
      : options.refreshUrl
      ? `<p><a href="${escapeHtml(options.refreshUrl)}">Check again now</a></p>`
      : '';
  return renderHtmlDocument({
    title: t.title,
    // The refresh line stays even when empty: the page's bytes are unchanged by the shared skeleton.
    head: `${refresh}\n`,
    style: `
body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a;background:#fff}
h1{font-size:1.5rem}
a{color:#0645ad}
`,
    main: `<h1>${escapeHtml(t.heading)}</h1>\n<p>${escapeHtml(t.body)}</p>\n${link}`,
  });
}

/** The only script idgate serves: it submits the start confirmation form (see {@link renderStartConfirmation}). */
const AUTO_SUBMIT = "document.getElementById('start').submit();";

/**
 * The headers of the start confirmation page: {@link PAGE_HEADERS} with the auto-submit script allowed by
 * its hash (no other script can run).
 */
export const START_CONFIRMATION_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...PAGE_HEADERS,
  'content-security-policy': `${PAGE_HEADERS['content-security-policy']}; script-src 'sha256-${createHash('sha256').update(AUTO_SUBMIT).digest('base64')}'`,
});

/**
 * The page `GET /verification/start/<ticket>` answers: a form that POSTs back to `action`, which is what
 * creates the Didit session. A browser submits it at once (`autoSubmit`, a hashed inline script) or the
 * user presses the button; link prefetchers and scanners (Slack, Outlook safe links) that only GET the
 * URL create nothing. Without `autoSubmit` (a prefetch or prerender) there is no script at all.
 */
export function renderStartConfirmation(action: string, autoSubmit: boolean): string {
  return renderHtmlDocument({
    title: 'Start your identity verification',
    head: '\n',
    style: `
body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a;background:#fff}
h1{font-size:1.5rem}
button{font-size:1rem;padding:.5rem 1rem}
`,
    main:
      `<h1>Start your identity verification</h1>\n<p>Continue to the identity verification the page you were visiting asked for.</p>\n` +
      `<form id="start" method="post" action="${escapeHtml(action)}"><button type="submit">Start verification</button></form>` +
      (autoSubmit ? `\n<script>${AUTO_SUBMIT}</script>` : ''),
  });
}

export { escapeHtml };
