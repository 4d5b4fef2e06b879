// `-h sim`: runs the backup against the simulated ESX host started in-process (the README's demo).

import { VcbError } from '../errors.js';
import type { Logger } from '../log.js';
import { startSimulator, type Simulator } from '../sim/simulator.js';
import { openHostSession, type HostSession } from '../workflow/connect.js';
import type { BackupOptions } from '../workflow/options.js';

export async function embeddedSimulatorSession(o: BackupOptions, log: Logger): Promise<{ open: (o: BackupOptions) => Promise<HostSession>; stop: () => Promise<void> }> {
  let sim: Simulator;
  try {
    sim = await startSimulator({});
  } catch (e) {
    throw new VcbError('CONNECT', `cannot start the embedded simulated host: ${(e as Error).message}`, {}, { cause: e });
  }
  log.info({ port: sim.port, vms: sim.esx.vms().map((v) => v.name) }, 'embedded simulated ESXi host started');
  return {
    open: () =>
      openHostSession(
        { host: sim.host, port: sim.port, user: sim.username, password: sim.password, hostKey: sim.fingerprint, acceptNewHostKey: false, commandSet: o.commandSet, commandTimeoutMs: o.commandTimeoutMs },
        log,
      ),
    stop: () => sim.stop(),
  };
}
