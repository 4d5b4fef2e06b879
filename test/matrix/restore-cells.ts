// Matrix cells of the restore job and of restore --drill: host command faults and signals at every step (generated from their step lists).

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { HostFault } from './host-faults.js';
import { HOLD_MS } from './signal-cells.js';
import { cleanupUntilSettled, cli, cliUntilStep, message, ruleFor, type StepTarget } from './matrix.js';
import { expectDeclared, expectRestorePromises, makeExport, probeRestore, restoreArgs, restoredNow, startRestoreCell, stepListOf, targetOf, type Mode, type RestoreProbe } from './restore.js';

/** A backup made once per file and probed once: what every cell of the file restores. */
function sharedExport(): { dir: () => string; probe: () => RestoreProbe } {
  let exp: Awaited<ReturnType<typeof makeExport>> | undefined;
  let p: RestoreProbe | undefined;
  beforeAll(async () => {
    exp = await makeExport();
  }, 60_000);
  afterAll(() => exp?.remove());
  test('a fault-free restore (under a new name, -b overwrite, and --drill) attributes every host command to a step that declares it', async () => {
    p = await probeRestore(exp!.dir);
    expectDeclared(p);
  });
  return { dir: () => exp!.dir, probe: () => p! };
}

/** Which restore a file's cells run: a plain one (new, or overwrite where a step runs commands only there), or --drill. */
export type RestoreKind = 'restore' | 'drill';

const stepsOf = (kind: RestoreKind) => stepListOf(kind === 'drill' ? 'drill' : 'new').steps;

/** The mode a cell restores in and its step's first host command: a drill cell's in the fault-free drill. */
function cellTarget(p: RestoreProbe, kind: RestoreKind, step: string): { mode: Mode; target?: StepTarget } {
  return kind === 'drill' ? { mode: 'drill', target: p.drill.targets.get(step) } : targetOf(p, step);
}

/**
 * The exit codes docs/exit-codes.md gives a restore for each cause: a failed host command 1 (a refused power
 * operation 6: the power-on, or the drill VM's power-off), a dropped connection 3 (cannot connect), no answer 1.
 * A command without an answer may also end in 8: if it was a change, the host may still make it, so its release
 * waits (cleanup finishes it). A failed command leaves nothing.
 */
function exitCodesOf(fault: HostFault, line: string): number[] {
  if (fault.rule.action === 'fail') return [/^vim-cmd vmsvc\/power\.|^vmware-cmd .* (start|stop)\b/.test(line) ? 6 : 1];
  return [fault.rule.action === 'drop' ? 3 : 1, 8];
}

export function restoreHostFaultCells(faults: readonly HostFault[], kind: RestoreKind = 'restore'): void {
  const steps = stepsOf(kind);
  const firstChange = steps.findIndex((s) => s.acquires.length > 0);
  describe(`${kind === 'drill' ? 'restore --drill' : 'restore'}: host command faults`, () => {
    const shared = sharedExport();
    for (const [i, step] of steps.entries()) {
      if (step.hostCommands.length === 0) continue;
      // A late answer matters only where the host changes: the steps before the first that holds anything only read (hang covers them).
      for (const fault of faults.filter((f) => f.rule.action !== 'late' || i >= firstChange)) {
        test(`${step.name} × ${fault.name}`, async () => {
          const { mode, target } = cellTarget(shared.probe(), kind, step.name);
          expect(target, `step ${step.name} declares host commands but ran none`).toBeDefined();
          await hostFaultCell(shared.dir(), mode, step.name, target!, fault);
        });
      }
    }
    if (kind !== 'drill') return;
    // The drill's own removal is what keeps a drill from leaving a VM behind: every command of it is tried, not only its first.
    for (const fault of faults) {
      test(
        `remove × ${fault.name}, at each of its host commands in turn`,
        async () => {
          // Each with its nth counted over the whole fault-free drill, as a fault rule aims.
          const targets = shared.probe().drill.commands.get('remove') ?? [];
          expect(targets.length, 'the remove step ran host commands').toBeGreaterThan(2);
          for (const target of targets) await hostFaultCell(shared.dir(), 'drill', 'remove', target, fault);
        },
        // One cell per command, each as long as a cell of its own.
        8 * 60_000,
      );
    }
  });
}

/** One cell: the restore with the fault on the target command, then its exit code, its message and its promises. */
async function hostFaultCell(source: string, mode: Mode, step: string, target: StepTarget, fault: HostFault): Promise<void> {
  const cell = await startRestoreCell(source, mode, [ruleFor(target, fault.rule)]);
  try {
    const r = await cli(restoreArgs(cell.bench, source, mode));
    expect(cell.bench.sim.faults.fired.length, `the fault fired on ${target.line}`).toBe(1);
    const text = message(r.stderr);
    await new Promise((resolve) => setTimeout(resolve, fault.settleMs));
    cell.bench.sim.faults.clear();
    // A run may get past a fault (a failed command-set probe, the replaced VM's files deleted on the final unwind).
    if (r.exitCode !== 0) {
      expect(exitCodesOf(fault, target.line), text).toContain(r.exitCode);
      expect(text).toContain(`step ${step}`);
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
}

export type RestoreSignalFault = 'SIGTERM' | 'SIGKILL then cleanup';

/**
 * One test per step × signal, the step's first host command held so that the signal lands in it. SIGINT is
 * not generated: it takes the same path as SIGTERM (one handler, the same unwind), so it would add minutes
 * and no release path; test/cli/restore*.test.ts interrupt with it.
 */
export function restoreSignalCells(faults: readonly RestoreSignalFault[], kind: RestoreKind = 'restore'): void {
  const steps = stepsOf(kind);
  describe(`${kind === 'drill' ? 'restore --drill' : 'restore'}: signals`, () => {
    const shared = sharedExport();
    for (const [i, step] of steps.entries()) {
      for (const fault of faults) {
        test(`${step.name} × ${fault}`, async () => {
          const { mode, target } = cellTarget(shared.probe(), kind, step.name);
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
                const next = steps[i + 1];
                if (target) expect(text).toMatch(new RegExp(`during step ${step.name}\\b|before step ${next?.name ?? step.name}\\b`));
                else expect(text).toMatch(/step [\w-]+/);
              }
              if (r.exitCode === 8) await cleanupUntilSettled(cell);
              expectRestorePromises(cell, { restored: r.exitCode === 0 });
            } else {
              await cleanupUntilSettled(cell);
              // Held in its first host command, a killed step never completed: only a kill in the last step may come
              // after the restore was done (kept: cleanup then deletes only what was set aside).
              const last = i === steps.length - 1;
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
