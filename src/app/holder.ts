/**
 * A value that a config reload replaces whole. Readers keep the holder and read `current` when they use it
 * (a plain property: no getter on the per-Check path), so a swap applies everywhere at once; the
 * composition root owns the only call to `replace`.
 */
export interface Holder<T> {
  readonly current: T;
  replace(next: T): void;
}

export function createHolder<T>(initial: T): Holder<T> {
  const holder = {
    current: initial,
    replace(next: T) {
      holder.current = next;
    },
  };
  return holder;
}
