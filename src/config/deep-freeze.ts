/** Freezes `value` and everything reachable from it; returns the same reference. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    // for…in instead of Object.keys: no array per object (this also freezes every cold token's claims and
    // header). Inherited keys are skipped, so the same own enumerable keys are visited; a key whose getter
    // throws cannot occur (parsed JSON or YAML, schema output and structuredClone output only).
    for (const key in value) if (Object.hasOwn(value, key)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
