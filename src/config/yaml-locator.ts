import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

/** A 1-based position in the source text. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/**
 * Finds where a document path points in the YAML source. `at: 'key'` prefers the mapping key node (for
 * unknown-key errors), `at: 'value'` the value node. When the path runs past what exists (a missing key),
 * the deepest existing node is used, so every issue still gets a position.
 */
export function locatePath(
  doc: Document,
  lineCounter: LineCounter,
  path: readonly PropertyKey[],
  at: 'key' | 'value' = 'value',
): SourcePosition | undefined {
  let node: unknown = doc.contents;
  let keyNode: unknown;
  for (const part of path) {
    keyNode = undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(part));
      if (pair === undefined) break;
      keyNode = pair.key;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof part === 'number') {
      const item = node.items[part];
      if (item === undefined) break;
      node = item;
    } else {
      break;
    }
  }
  const target = (at === 'key' && keyNode !== undefined ? keyNode : node) as Node | null | undefined;
  const offset = target?.range?.[0];
  if (offset === undefined) return undefined;
  const pos = lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}
