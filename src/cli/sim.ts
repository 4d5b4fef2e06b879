// `vcbmounter sim`: runs the simulated ESX host in the foreground until SIGINT/SIGTERM.

import { startSimulator } from '../sim/simulator.js';

export interface SimCommandOptions {
  port: number;
  dir?: string;
  inventory: string;
  faults?: string;
  password?: string;
}

/** Starts the simulator, prints one JSON line with the endpoint, and resolves with exit code 0 on SIGINT/SIGTERM. */
export async function runSim(opts: SimCommandOptions, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  const sim = await startSimulator({
    port: opts.port,
    stateDir: opts.dir,
    inventory: opts.inventory,
    faults: opts.faults,
    password: opts.password ?? process.env.VCBMOUNTER_SIM_PASSWORD,
  });
  io.stdout.write(JSON.stringify(sim.endpoint()) + '\n');
  io.stderr.write(
    `simulated ${sim.esx.kind === 'esxi' ? 'ESXi' : 'ESX 3.x'} host "${sim.esx.hostname}" with ${sim.esx.vms().length} VMs on 127.0.0.1:${sim.port}` +
      ` (state in ${sim.stateDir}); Ctrl-C stops it\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await sim.stop();
  return 0;
}
