import { execFileSync } from 'node:child_process';
import { constants, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRegularFile } from './read-bounded-file.js';

/**
 * readRegularFile is how tenant files are read and fingerprinted: its guarantees are what keeps a file
 * swapped during a reload (TOCTOU between a check and the read) from blocking or misleading idgate.
 * Real files, FIFOs and links in a temp dir.
 */
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'idgate-read-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const errorOf = (fn: () => unknown): { code?: unknown; message: string } => {
  try {
    fn();
  } catch (err) {
    return err as { code?: unknown; message: string };
  }
  throw new Error('expected an error');
};

describe('readRegularFile', () => {
  it('reads a regular file up to the bound, and refuses a larger one (EFBIG) rather than truncating it', () => {
    writeFileSync(join(dir, 'a.yaml'), 'routes: []\n');
    expect(readRegularFile(join(dir, 'a.yaml'), 11, 'tenant file').toString()).toBe('routes: []\n');
    expect(errorOf(() => readRegularFile(join(dir, 'a.yaml'), 10, 'tenant file'))).toMatchObject({ code: 'EFBIG', message: 'tenant file too large (max 10 bytes)' });
  });

  it('reads past the size fstat reported (the buffer grows), up to the bound', () => {
    // A /proc file is a regular file whose fstat size is 0, however much it holds.
    const status = readRegularFile('/proc/self/status', 1 << 20, 'status').toString();
    expect(status).toMatch(/^Name:/);
    expect(status).toContain('\nPid:');
    expect(errorOf(() => readRegularFile('/proc/self/status', 16, 'status'))).toMatchObject({ code: 'EFBIG' });
    writeFileSync(join(dir, 'empty.yaml'), '');
    expect(readRegularFile(join(dir, 'empty.yaml'), 10, 'tenant file').length).toBe(0);
  });

  it('a FIFO with no writer is refused at once: the open cannot block (a plain open would wait forever)', () => {
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    const started = Date.now();
    expect(errorOf(() => readRegularFile(join(dir, 'fifo'), 1024, 'tenant file')).message).toBe('it is not a regular file');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('a directory is refused', () => {
    mkdirSync(join(dir, 'd'));
    expect(errorOf(() => readRegularFile(join(dir, 'd'), 1024, 'tenant file')).message).toBe('it is not a regular file');
  });

  it('with O_NOFOLLOW, a symlink swapped in for a checked path is refused (ELOOP), not followed', () => {
    writeFileSync(join(dir, 'target.yaml'), 'routes: []\n');
    symlinkSync('target.yaml', join(dir, 'link.yaml'));
    expect(readRegularFile(join(dir, 'link.yaml'), 1024, 'tenant file').toString()).toBe('routes: []\n');
    expect(errorOf(() => readRegularFile(join(dir, 'link.yaml'), 1024, 'tenant file', constants.O_NOFOLLOW))).toMatchObject({ code: 'ELOOP' });
  });
});
