// Matrix cells for signals at every step: SIGINT, SIGTERM, and SIGKILL followed by `cleanup` or by the next run of the VM.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Probe } from './matrix.js';
import { backupArgs, backupUntilStep, cleanupUntilSettled, cli, expectPromisesKept, message, outDir, probe, ruleFor, startCell, TIMEOUTS, VM, type JobType } from './matrix.js';

export type SignalFault = 'SIGINT' | 'SIGTERM' | 'SIGKILL then cleanup' | 'SIGKILL then the next run';

const EXIT_OF = { SIGINT: 130, SIGTERM: 143 } as const;
/** Long enough that the signal lands while the step's first host command is still running. */
export const HOLD_MS = 1_500;

export function signalCells(type: JobType, faults: readonly SignalFault[]): void {
  describe(`${type.name}: signals`, () => {
    let p: Probe;
    test('a fault-free run finds each step\'s first host command', async () => {
      p = await probe(type);
      expect(p.targets.size).toBeGreaterThan(0);
    });
    for (const step of type.steps) {
      for (const fault of faults) {
        test(`${step.name} × ${fault}`, async () => {
          const target = p.targets.get(step.name);
          const cell = await startCell(target ? [ruleFor(target, { action: 'slow', delayMs: HOLD_MS })] : [], { type });
          try {
            const { child, started } = backupUntilStep(cell, type, step.name);
            await started;
            const signal = fault.startsWith('SIGKILL') ? 'SIGKILL' : (fault as keyof typeof EXIT_OF);
            // Straight to the process: execa's own kill() would follow up with SIGKILL after 2 s of cleanup.
            process.kill(child.pid!, signal);
            const r = await child;
            cell.bench.sim.faults.clear();
            const text = message(r.stderr);
            let complete = r.exitCode === 0;
            if (signal !== 'SIGKILL') {
              // The last step can end before the signal lands: then the backup is complete and must be exact.
              if (!complete) {
                expect([EXIT_OF[signal], 8], text).toContain(r.exitCode);
                expect(text).toContain(`interrupted by ${signal}`);
                // Held in its first host command, the run stops in that step or right before the next one (a
                // host command runs to its end); a step that runs none may be past.
                const next = type.steps[type.steps.indexOf(step) + 1];
                if (target) expect(text).toMatch(new RegExp(`during step ${step.name}\\b|before step ${next?.name ?? step.name}\\b`));
                else expect(text).toMatch(/step \w+/);
              }
              if (r.exitCode === 8) await cleanupUntilSettled(cell);
            } else if (fault === 'SIGKILL then cleanup') {
              await cleanupUntilSettled(cell);
              complete = existsSync(outDir(cell.bench, VM));
            } else {
              // A -t file run killed after it had handed its mounts over is done: the admin takes them down first.
              if (type.name === 'file' && existsSync(join(outDir(cell.bench, VM), '.vcbmounter-state.json'))) {
                expect((await cli(['-U', outDir(cell.bench, VM), ...cell.bench.connect])).exitCode).toBe(0);
              }
              const next = await cli(backupArgs(cell.bench, VM, ['-t', type.name, ...TIMEOUTS, '--preexisting-mountpoint', 'delete']));
              expect(next.exitCode, message(next.stderr)).toBe(0);
              complete = true;
              // A create the killed run started may still be settling: cleanup waits it out.
              await cleanupUntilSettled(cell);
            }
            await expectPromisesKept(cell, { backupExpected: complete });
          } finally {
            await cell.bench.stop();
          }
        });
      }
    }
  });
}
