import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Reads at most `maxBytes` of a file; a larger file is an error (`EFBIG`) rather than a truncated read,
 * and the read stops there, so a huge (or endless, e.g. a FIFO or /dev/zero) file costs no more memory.
 */
export function readBoundedFile(path: string, maxBytes: number, what: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    return readBoundedFd(fd, maxBytes, what);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a regular file of at most `maxBytes` (else `EFBIG`) through one descriptor: opened non-blocking, so
 * a FIFO swapped in after any earlier check cannot block the open (and the process with it), then checked
 * with `fstat` and read on that same descriptor, so what is checked is what is read — no stat-then-open
 * window for a file that a reload races with (a ConfigMap swap, a file replaced by a directory).
 * `flags` are added to the open (e.g. `O_NOFOLLOW`).
 *
 * @throws an `Error` "it is not a regular file" for a FIFO, device, socket or directory; a system error
 *   (with `code`) when the open fails.
 */
export function readRegularFile(path: string, maxBytes: number, what: string, flags = 0): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | flags);
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) throw new Error('it is not a regular file');
    return readBoundedFd(fd, maxBytes, what, info.size);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads `fd` to its end into a buffer sized from `sizeHint` (what fstat said) and grown if the file is
 * longer, never past `maxBytes + 1`: a watcher polling small files every second allocates what they hold,
 * not the bound.
 */
function readBoundedFd(fd: number, maxBytes: number, what: string, sizeHint = maxBytes): Buffer {
  let buf = Buffer.alloc(Math.min(maxBytes, sizeHint) + 1);
  let length = 0;
  for (;;) {
    if (length === buf.length) {
      const bigger = Buffer.alloc(Math.min(maxBytes + 1, buf.length * 2));
      buf.copy(bigger, 0, 0, length);
      buf = bigger;
    }
    const n = readSync(fd, buf, length, buf.length - length, null);
    if (n === 0) break;
    length += n;
    if (length > maxBytes) throw Object.assign(new Error(`${what} too large (max ${maxBytes} bytes)`), { code: 'EFBIG' });
  }
  return buf.subarray(0, length);
}
