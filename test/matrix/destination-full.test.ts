// Fault matrix: the proxy's destination fills up when each step that writes it starts (generated from the step lists).

import { mkdirSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, test, vi } from 'vitest';
import { backupUntilStep, cleanupUntilSettled, EXPORT_TYPES, expectPromisesKept, message, startCell, VM } from './matrix.js';

vi.setConfig({ testTimeout: 120_000 });

// A small file system of its own for -r, filled on cue: tmpfs needs root (CI runs the tests as root).
const root = process.getuid?.() === 0;

/** Fills the file system under `dir` to the last block. */
function fill(dir: string): void {
  const { bavail, bsize } = statfsSync(dir);
  try {
    writeFileSync(join(dir, 'filler'), Buffer.alloc(Number(bavail) * Number(bsize)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
}

for (const type of Object.values(EXPORT_TYPES)) {
  describe(`${type.name}: destination full`, () => {
    for (const step of type.steps.filter((s) => s.writesDestination)) {
      test.runIf(root)(`${step.name} × the destination fills up`, async () => {
        // Slow reads, so that the file system fills while the export is still writing.
        const cell = await startCell([{ match: '^dd ', action: 'slow', bytesPerSecond: 4 * 1024 * 1024 }]);
        const mount = join(cell.bench.tmp, 'small');
        mkdirSync(mount);
        await execa('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mount]);
        try {
          const dir = join(mount, 'out');
          const { child, started } = backupUntilStep(cell, type, step.name, dir);
          await started;
          fill(mount);
          const r = await child;
          cell.bench.sim.faults.clear();
          const text = message(r.stderr);
          // A step after the last write (publish renames) gets through: its backup must then be exact.
          if (r.exitCode !== 0) {
            expect([7, 8], text).toContain(r.exitCode);
            expect(text).toMatch(/space|ENOSPC/i);
            expect(text).toMatch(/step \w+/);
          }
          if (r.exitCode === 8) await cleanupUntilSettled(cell);
          await expectPromisesKept(cell, { backupExpected: r.exitCode === 0, dir });
        } finally {
          await execa('umount', ['-l', mount]).catch(() => {});
          await cell.bench.stop();
        }
      });
    }
  });
}
