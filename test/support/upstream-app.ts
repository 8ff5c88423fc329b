import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the app received. */
export interface UpstreamRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** A stand-in application behind the proxy (node:http on 127.0.0.1, port 0). */
export interface UpstreamApp {
  readonly port: number;
  readonly url: string;
  /** Every request received so far, oldest first. */
  readonly requests: readonly UpstreamRequest[];
  close(): Promise<void>;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Starts an app that echoes what it received: `{ method, url, headers }` as JSON, or — for a request that
 * accepts HTML — a small page with the heading "Upstream app", the path and the same JSON in
 * `<pre id="echo">` (credential values replaced by their length), so a browser test can read what the
 * proxy forwarded.
 */
export async function startUpstreamApp(): Promise<UpstreamApp> {
  const requests: UpstreamRequest[] = [];
  const server = createServer((req, res) => {
    req.resume();
    const seen: UpstreamRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    requests.push(seen);
    const json = JSON.stringify(seen, null, 2);
    if ((req.headers.accept ?? '').includes('text/html')) {
      // Shown on screenshots: credentials are replaced by their length.
      const shown = { ...seen, headers: { ...seen.headers } };
      for (const name of ['authorization', 'cookie']) {
        const value = shown.headers[name];
        if (typeof value === 'string') shown.headers[name] = `<${value.length} characters>`;
      }
      const echo = JSON.stringify(shown, null, 2);
      const subject = typeof req.headers['x-idgate-subject'] === 'string' ? req.headers['x-idgate-subject'] : 'nobody';
      const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Upstream app</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}pre{background:#f3f3f3;padding:1rem;overflow:auto}</style></head>
<body><main>
<h1>Upstream app</h1>
<p>You reached <code id="path">${escapeHtml(seen.url)}</code> as <strong id="subject">${escapeHtml(subject)}</strong>.</p>
<pre id="echo">${escapeHtml(echo)}</pre>
</main></body>
</html>
`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(html) });
      res.end(html);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
    res.end(json);
  });
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
