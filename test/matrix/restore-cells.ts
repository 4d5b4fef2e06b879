// Matrix cells of the restore job: host command faults and signals at every step (generated from its step list).

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { HostFault } from './host-faults.js';
import { HOLD_MS } from './signal-cells.js';
import { cleanupUntilSettled, cli, cliUntilStep, message, ruleFor } from './matrix.js';
import { expectDeclared, expectRestorePromises, makeExport, probeRestore, RESTORE, restoreArgs, restoredNow, startRestoreCell, targetOf, type RestoreProbe } from './restore.js';

/** A backup made once per file and probed once: what every cell of the file restores. */
function sharedExport(): { dir: () => string; probe: () => RestoreProbe } {
  let exp: Awaited<ReturnType<typeof makeExport>> | undefined;
  let p: RestoreProbe | undefined;
  beforeAll(async () => {
    exp = await makeExport();
  }, 60_000);
  afterAll(() => exp?.remove());
  test('a fault-free restore (under a new name, and -b overwrite) attributes every host command to a step that declares it', async () => {
    p = await probeRestore(exp!.dir);
    expectDeclared(p);
  });
  return { dir: () => exp!.dir, probe: () => p! };
}

const FIRST_CHANGE = RESTORE.steps.findIndex((s) => s.acquires.length > 0);

/**
 * The exit codes docs/exit-codes.md gives a restore for each cause: a failed host command 1 (a refused power-on 6),
 * a dropped connection 3 (cannot connect), no answer 1. A command without an answer may also end in 8: if it was a
 * change, the host may still make it, so its release waits (cleanup finishes it). A failed command leaves nothing.
 */
function exitCodesOf(fault: HostFault, step: string): number[] {
  if (fault.rule.action === 'fail') return [step === 'power-on' ? 6 : 1];
  return [fault.rule.action === 'drop' ? 3 : 1, 8];
}

export function restoreHostFaultCells(faults: readonly HostFault[]): void {
  describe('restore: host command faults', () => {
    const shared = sharedExport();
    for (const [i, step] of RESTORE.steps.entries()) {
      if (step.hostCommands.length === 0) continue;
      // A late answer matters only where the host changes: the steps before the first that holds anything only read (hang covers them).
      for (const fault of faults.filter((f) => f.rule.action !== 'late' || i >= FIRST_CHANGE)) {
        test(`${step.name} × ${fault.name}`, async () => {
          const { mode, target } = targetOf(shared.probe(), step.name);
          expect(target, `step ${step.name} declares host commands but ran none`).toBeDefined();
          const cell = await startRestoreCell(shared.dir(), mode, [ruleFor(target!, fault.rule)]);
          try {
            const r = await cli(restoreArgs(cell.bench, shared.dir(), mode));
            expect(cell.bench.sim.faults.fired.length, 'the fault fired').toBe(1);
            const text = message(r.stderr);
            await new Promise((resolve) => setTimeout(resolve, fault.settleMs));
            cell.bench.sim.faults.clear();
            // A run may get past a fault (a failed command-set probe, the replaced VM's files deleted on the final unwind).
            if (r.exitCode !== 0) {
              expect(exitCodesOf(fault, step.name), text).toContain(r.exitCode);
              expect(text).toContain(`step ${step.name}`);
              expect(text).toMatch(fault.cause);
            }
            if (r.exitCode === 8) {
              expect(text).toContain('vcbmounter cleanup');
              await cleanupUntilSettled(cell);
            }
            expectRestorePromises(cell, { restored: r.exitCode === 0 });
          } finally {
            await cell.bench.stop();
          }
        });
      }
    }
  });
}

export type RestoreSignalFault = 'SIGTERM' | 'SIGKILL then cleanup';

/**
 * One test per step × signal, the step's first host command held so that the signal lands in it. SIGINT is
 * not generated: it takes the same path as SIGTERM (one handler, the same unwind), so it would add minutes
 * and no release path; test/cli/restore*.test.ts interrupt with it.
 */
export function restoreSignalCells(faults: readonly RestoreSignalFault[]): void {
  describe('restore: signals', () => {
    const shared = sharedExport();
    for (const [i, step] of RESTORE.steps.entries()) {
      for (const fault of faults) {
        test(`${step.name} × ${fault}`, async () => {
          const { mode, target } = targetOf(shared.probe(), step.name);
          const cell = await startRestoreCell(shared.dir(), mode, target ? [ruleFor(target, { action: 'slow', delayMs: HOLD_MS })] : []);
          try {
            const { child, started } = cliUntilStep(restoreArgs(cell.bench, shared.dir(), mode), step.name);
            await started;
            const signal = fault === 'SIGTERM' ? 'SIGTERM' : 'SIGKILL';
            // Straight to the process: execa's own kill() would follow up with SIGKILL after 2 s of cleanup.
            process.kill(child.pid!, signal);
            const r = await child;
            cell.bench.sim.faults.clear();
            const text = message(r.stderr);
            if (signal === 'SIGTERM') {
              // The last step can end before the signal lands: then the restore is complete and must be in place.
              if (r.exitCode !== 0) {
                expect([143, 8], text).toContain(r.exitCode);
                expect(text).toContain('interrupted by SIGTERM');
                const next = RESTORE.steps[i + 1];
                if (target) expect(text).toMatch(new RegExp(`during step ${step.name}\\b|before step ${next?.name ?? step.name}\\b`));
                else expect(text).toMatch(/step [\w-]+/);
              }
              if (r.exitCode === 8) await cleanupUntilSettled(cell);
              expectRestorePromises(cell, { restored: r.exitCode === 0 });
            } else {
              await cleanupUntilSettled(cell);
              // Held in its first host command, a killed step never completed: only a kill in the last step may come
              // after the restore was done (kept: cleanup then deletes only what was set aside).
              const last = i === RESTORE.steps.length - 1;
              expectRestorePromises(cell, { restored: last && restoredNow(cell) });
            }
          } finally {
            await cell.bench.stop();
          }
        });
      }
    }
  });
}
