// Liveness of pids, including a pid reused by a process started after the lock was written.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/engine/index.js';
import { processStartTime } from '../../src/engine/process-alive.js';

describe('isProcessAlive', () => {
  it('is true for this process and false for an exited one or nonsense pids', () => {
    expect(isProcessAlive(process.pid)).toBe(true);
    const exited = spawnSync(process.execPath, ['-e', '0']);
    expect(isProcessAlive(exited.pid)).toBe(false);
    expect(isProcessAlive(0)).toBe(false);
    expect(isProcessAlive(-1)).toBe(false);
  });

  it('counts a pid as dead when its process started after the record naming it (pid reuse)', () => {
    const started = processStartTime(process.pid);
    expect(started).toBeDefined();
    const startedFromUptime = Date.now() - process.uptime() * 1000;
    expect(Math.abs(started! - startedFromUptime)).toBeLessThan(60_000);
    expect(isProcessAlive(process.pid, started! + 1_000)).toBe(true);
    expect(isProcessAlive(process.pid, started! - 3_600_000)).toBe(false);
  });
});
