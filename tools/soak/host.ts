// The soak's simulated ESX host, started in-process: counts host commands in flight, arms faults, undoes them.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { faultRuleSchema, type FaultRule } from '../../src/sim/faults.js';
import { parseInventory } from '../../src/sim/inventory.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { projectRoot } from '../test-support/project-root.js';
import type { FaultPlan } from './plan.js';

export interface SoakHost {
  sim: Simulator;
  /** Connection flags for every CLI run (backup and cleanup alike). */
  connect: string[];
  stateDir: string;
  /** Host commands started since the host started. */
  started(): number;
  /** Host commands started and not yet ended (a `late` command counts until it ends on the host). */
  inFlight(): number;
  /** Calls fn with each host command as it starts (before the fault engine decides on it); returns the unsubscribe. */
  onCommand(fn: (argv: readonly string[]) => void): () => void;
  /** Waits until no host command has been running for a moment; false if limitMs passed first. */
  settle(limitMs: number): Promise<boolean>;
  /** Arms one cycle's fault; a rule with armAfter is added when that command starts. */
  arm(fault: FaultPlan, seed: number): void;
  /** Removes every rule, and what a fill left: the datastore full, guests stalled on it. */
  disarm(): void;
  /** Drops the host's in-memory logs (command log, guest events) once a cycle has been checked. */
  trimLogs(): void;
  /** `late` is known to this simulator (else late cycles run as hang). */
  lateSupported: boolean;
  stop(): Promise<void>;
}

export async function startSoakHost(workDir: string, inventory: Record<string, unknown>): Promise<SoakHost> {
  const sim = await startSimulator({
    // The soak checks promises over many cycles, not timing: hostd answers at once unless the inventory says otherwise.
    inventory: parseInventory({ ...inventory, host: { timing: 'fast', ...((inventory.host as object | undefined) ?? {}) } }, 'soak inventory'),
    stateDir: join(workDir, 'sim'),
    // The simulator finds its fixtures from its own module's depth, which differs once compiled into dist-tools.
    fixturesDir: join(projectRoot(), 'fixtures', 'guests'),
  });
  const passwordFile = join(workDir, 'password');
  writeFileSync(passwordFile, sim.password, { mode: 0o600 });
  const stateDir = join(workDir, 'state');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const connect = ['-h', '127.0.0.1', '--port', String(sim.port), '-u', 'root', '--password-file', passwordFile, '--host-key', sim.fingerprint, '--state-dir', stateDir];

  // Every command run over SSH passes the fault engine's decide() once as it starts and is logged once as it ends
  // (a late one when it ends on the host), so the difference is what the host is still doing.
  let started = 0;
  let trimmed = 0;
  const listeners = new Set<(argv: readonly string[]) => void>();
  const decide = sim.faults.decide.bind(sim.faults);
  sim.faults.decide = (argv, session) => {
    started++;
    for (const fn of listeners) fn(argv);
    return decide(argv, session);
  };
  const ended = () => trimmed + sim.commandLog.length;
  const inFlight = () => Math.max(0, started - ended());
  const lateSupported = faultRuleSchema.safeParse({ match: 'x', action: 'late', delayMs: 1 }).success;
  let unarm: (() => void) | undefined;

  const host: SoakHost = {
    sim,
    connect,
    stateDir,
    lateSupported,
    started: () => started,
    inFlight,
    onCommand(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    async settle(limitMs) {
      const deadline = Date.now() + limitMs;
      let quietSince = inFlight() === 0 ? Date.now() : 0;
      while (Date.now() < deadline) {
        if (inFlight() > 0) quietSince = 0;
        else if (quietSince === 0) quietSince = Date.now();
        else if (Date.now() - quietSince >= 150) return true;
        await new Promise((r) => setTimeout(r, 20));
      }
      return inFlight() === 0;
    },
    arm(fault, seed) {
      const action = fault.action === 'late' && !lateSupported ? 'hang' : fault.action;
      const rule: FaultRule = {
        match: fault.target.match,
        action,
        nth: fault.target.nth,
        seed,
        ...(fault.always ? {} : { times: 1 }),
        ...(action === 'fail' ? { exitCode: 1, stderr: `soak: injected failure of ${fault.target.id}` } : {}),
        ...(action === 'late' ? { delayMs: fault.delayMs } : {}),
      };
      if (fault.always) delete rule.nth;
      if (!fault.target.armAfter) {
        sim.faults.add(rule);
        return;
      }
      const trigger = new RegExp(fault.target.armAfter);
      unarm = host.onCommand((argv) => {
        if (!trigger.test(argv.join(' '))) return;
        unarm?.();
        unarm = undefined;
        sim.faults.add(rule);
      });
    },
    disarm() {
      unarm?.();
      unarm = undefined;
      sim.faults.clear();
      for (const ds of sim.esx.vfs.datastores()) sim.esx.vfs.setFull(ds.name, false);
      // A guest that hit the full datastore stops writing, as a VM paused on a full datastore would; a real host
      // resumes it once space is freed and the admin answers the question. The simulator has no resume, so the
      // soak clears the stall itself: the next cycles need guests that write.
      for (const vm of sim.esx.vms()) vm.guest.stalled = undefined;
    },
    trimLogs() {
      trimmed += sim.commandLog.length;
      sim.commandLog.length = 0;
    },
    stop: () => sim.stop(),
  };
  return host;
}
