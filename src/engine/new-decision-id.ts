import { randomFillSync } from 'node:crypto';

/** Ids drawn per refill of the entropy pool (one `randomFillSync` per this many Checks). */
const BATCH = 128;
const pool = Buffer.alloc(16 * BATCH);
let drawn = BATCH;
/** The id's text is written here, then read out as one flat string. */
const text = Buffer.alloc(36);
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * A new decision id: a random (v4) UUID, 122 random bits, so ids from every process and replica never
 * collide in practice without any coordination.
 *
 * Written here rather than `crypto.randomUUID()`, which draws from the same kind of batch of CSPRNG bytes
 * but builds its text by concatenating 20 pieces: a tree of ~20 cons strings (~600 bytes per id) that is
 * flattened again when the id is encoded into the CheckResponse. This writes the 36 characters into a
 * scratch buffer and reads them out as one flat string (~50 bytes) — the per-Check garbage is what the
 * hot path pays for at saturation (bench/README.md, "Hot path: the lower bound (fifth round)"). Ids need
 * not be unguessable nor time-ordered: log lines carry their own time.
 */
export function newDecisionId(): string {
  if (drawn === BATCH) {
    randomFillSync(pool);
    drawn = 0;
  }
  const offset = 16 * drawn++;
  let at = 0;
  for (let i = 0; i < 16; i++) {
    let byte = pool[offset + i] as number;
    // RFC 9562 §5.4: version 4 in the high nibble of byte 6, variant 10 in the top bits of byte 8.
    if (i === 6) byte = (byte & 0x0f) | 0x40;
    else if (i === 8) byte = (byte & 0x3f) | 0x80;
    if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = 0x2d;
    text[at++] = HEX[byte >> 4] as number;
    text[at++] = HEX[byte & 15] as number;
  }
  return text.toString('latin1', 0, 36);
}
