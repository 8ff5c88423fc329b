/**
 * What the encoded-response caches (`allow-response-cache.ts`, `step-up-response-cache.ts`) share to find
 * where an id's bytes sit in a response: they encode it a second time with a probe id and compare.
 */

/** An id of the same length that differs from `id` in every character, and is itself printable ASCII. */
export function probeFor(id: string): string {
  let probe = '';
  for (let i = 0; i < id.length; i++) probe += id.charCodeAt(i) === 0x61 ? 'b' : 'a';
  return probe;
}

/** A copy of `bytes` in memory of its own (a pooled slice would keep its whole 8 KiB pool alive). */
export function ownCopy(bytes: Buffer): Buffer {
  const own = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(own);
  return own;
}
