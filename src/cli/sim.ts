// `vcbmounter sim`: runs the simulated ESX host in the foreground until SIGINT/SIGTERM.

import { signalExitCode } from '../engine/signals.js';
import { startSimulator, type Simulator } from '../sim/simulator.js';

export interface SimCommandOptions {
  port: number;
  dir?: string;
  inventory: string;
  faults?: string;
  password?: string;
}

type StopSignal = 'SIGINT' | 'SIGTERM';

/**
 * Starts the simulator, prints one JSON line with the endpoint, and resolves with exit code 0 on SIGINT/SIGTERM.
 * A signal while it is still starting (before the JSON line) stops the start: what it built in its own
 * temp dir is removed (a --dir is kept) and the code is 130/143. A second signal exits at once.
 */
export async function runSim(opts: SimCommandOptions, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  const aborter = new AbortController();
  let received: StopSignal | undefined;
  let wake: (() => void) | undefined;
  const onSignal = (signal: StopSignal): void => {
    if (received) process.exit(signalExitCode(received));
    received = signal;
    aborter.abort(new Error(`interrupted by ${signal}`));
    wake?.();
  };
  // Installed before the start creates its temp dir, so that no signal finds the default handler (which
  // would end the process there and leave the half-built state dir behind).
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let sim: Simulator;
    try {
      sim = await startSimulator({
        port: opts.port,
        stateDir: opts.dir,
        inventory: opts.inventory,
        faults: opts.faults,
        password: opts.password ?? process.env.VCBMOUNTER_SIM_PASSWORD,
        signal: aborter.signal,
      });
    } catch (e) {
      if (!received) throw e;
      io.stderr.write(`interrupted by ${received} while starting; the simulator was not started\n`);
      return signalExitCode(received);
    }
    io.stdout.write(JSON.stringify(sim.endpoint()) + '\n');
    io.stderr.write(
      `simulated ${sim.esx.kind === 'esxi' ? 'ESXi' : 'ESX 3.x'} host "${sim.esx.hostname}" with ${sim.esx.vms().length} VMs on 127.0.0.1:${sim.port}` +
        ` (state in ${sim.stateDir}); Ctrl-C stops it\n`,
    );
    if (!received) await new Promise<void>((resolve) => (wake = resolve));
    await sim.stop();
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
