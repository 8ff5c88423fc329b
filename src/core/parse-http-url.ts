/**
 * `text` as an absolute http(s) URL without credentials, or undefined. The one test of a URL idgate sends a
 * browser to: the renderer's redirect to the verification session and the callback's return target both
 * refuse other schemes (`javascript:`, `data:`…) and `user:pass@` (a phishing disguise). The URL is
 * re-serialised by the caller (`href`), so it is percent-encoded.
 */
export function parseHttpUrl(text: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  return url;
}
