/**
 * Ends an exhaustive `switch`: the compiler proves `value` cannot occur. Should a value from outside the
 * types reach it anyway, it throws `unknown <what> <value>`, which the callers' guards turn into a
 * fail-closed answer.
 */
export function unreachable(value: never, what: string): never {
  throw new TypeError(`unknown ${what} ${String(value)}`);
}
