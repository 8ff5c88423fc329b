import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Reads at most `maxBytes` of a file; a larger file is an error (`EFBIG`) rather than a truncated read,
 * and the read stops there, so a huge (or endless, e.g. a FIFO or /dev/zero) file costs no more memory.
 */
export function readBoundedFile(path: string, maxBytes: number, what: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) throw Object.assign(new Error(`${what} too large (max ${maxBytes} bytes)`), { code: 'EFBIG' });
    }
    return buf.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}
