/** The parts of a page {@link renderHtmlDocument} wraps. */
export interface HtmlDocument {
  /** Plain text; escaped here. */
  readonly title: string;
  /** Extra `<head>` markup placed before the style, verbatim (already escaped by the caller). */
  readonly head?: string;
  /** The page's CSS, verbatim inside `<style>`. */
  readonly style: string;
  /** The content of `<main>`, verbatim (already escaped by the caller). */
  readonly main: string;
}

/**
 * The one HTML skeleton of every page idgate and its sandbox serve: `lang`, viewport, `noindex`, an inline
 * style (the pages are sent with a CSP that allows no external asset) and a single `<main>`.
 */
export function renderHtmlDocument(page: HtmlDocument): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(page.title)}</title>
${page.head ?? ''}<style>${page.style}</style>
</head>
<body>
<main>
${page.main}
</main>
</body>
</html>
`;
}

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;',
  );
}
