const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

/** Renders a document path as `policy.routes[2].require.issuers[0]`; odd keys are quoted (`claims["a.b"]`). */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = String(part);
      out += PLAIN_KEY.test(key) ? (out === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}
