// Matrix cells for faults on a step's first host command: it fails, hangs past its bound, completes late on the host, or the connection drops.

import { describe, expect, test } from 'vitest';
import { backupArgs, cleanupUntilSettled, cli, expectPromisesKept, LATE_MS, message, probe, ruleFor, startCell, TIMEOUTS, VM, type JobType, type Probe } from './matrix.js';
import type { FaultRule } from '../../src/sim/faults.js';

export interface HostFault {
  name: string;
  rule: Omit<FaultRule, 'match' | 'nth'>;
  /** What the message must say of the cause. */
  cause: RegExp;
  /** How long the host may still act on the command after the run ends. */
  settleMs: number;
}

export const HOST_FAULTS: HostFault[] = [
  { name: 'the command fails', rule: { action: 'fail', exitCode: 1, stderr: 'injected failure' }, cause: /injected failure/, settleMs: 0 },
  { name: 'it hangs past its timeout', rule: { action: 'hang' }, cause: /timed out|no answer/, settleMs: 0 },
  { name: 'it completes on the host after the client gave up', rule: { action: 'late', delayMs: LATE_MS }, cause: /timed out|no answer/, settleMs: LATE_MS + 1_000 },
  { name: 'the SSH connection drops', rule: { action: 'drop' }, cause: /connection|lost|closed/i, settleMs: 0 },
];

/** One describe per job type, one test per step that runs a host command × each fault. */
export function hostFaultCells(type: JobType, faults: readonly HostFault[]): void {
  describe(`${type.name}: host command faults`, () => {
    const probes: { plain?: Probe; recovering?: Probe } = {};
    test('a fault-free run (and one after an interrupted run) attributes every host command to a step that declares it', async () => {
      probes.plain = await probe(type);
      probes.recovering = await probe(type, { afterInterruptedRun: true });
      for (const p of [probes.plain, probes.recovering]) {
        for (const step of type.steps) {
          for (const { line } of p.commands.get(step.name) ?? []) {
            expect(step.hostCommands.some((re) => new RegExp(re).test(line)), `step ${step.name} declares ${line}`).toBe(true);
          }
        }
      }
    });
    for (const step of type.steps.filter((s) => s.hostCommands.length > 0)) {
      for (const fault of faults) {
        test(`${step.name} × ${fault.name}`, async () => {
          // A step that runs no host command on a first run (recover) is faulted where it does: after an interrupted run.
          const afterInterruptedRun = !probes.plain?.targets.has(step.name);
          const target = (afterInterruptedRun ? probes.recovering : probes.plain)?.targets.get(step.name);
          expect(target, `step ${step.name} declares host commands but ran none`).toBeDefined();
          const cell = await startCell([ruleFor(target!, fault.rule)], { afterInterruptedRun });
          try {
            const r = await cli(backupArgs(cell.bench, VM, ['-t', type.name, ...TIMEOUTS]));
            expect(cell.bench.sim.faults.fired.length, 'the fault fired').toBe(1);
            const text = message(r.stderr);
            await new Promise((resolve) => setTimeout(resolve, fault.settleMs));
            cell.bench.sim.faults.clear();
            // A run may get past a fault (a read-only command asked again): then its backup must be exact.
            if (r.exitCode !== 0) {
              expect(text).toContain(`step ${step.name}`);
              expect(text).toMatch(fault.cause);
            }
            if (r.exitCode === 8) {
              expect(text).toContain('vcbmounter cleanup');
              await cleanupUntilSettled(cell);
            }
            await expectPromisesKept(cell, { backupExpected: r.exitCode === 0 });
          } finally {
            await cell.bench.stop();
          }
        });
      }
    }
  });
}
