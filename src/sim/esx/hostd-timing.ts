// How long hostd takes over each management operation, so the simulated host is no quicker than a real one.

import { posix } from 'node:path';
import type { CommandImpl } from '../shell/types.js';
import { sleepAbortable } from '../posix/streams.js';

/** What the timing needs of a host: the VM a command names, and its files' sizes. */
export interface TimedHost {
  byVmid(text: string): { dir: string };
  byVmx(path: string): { dir: string };
  vfs: { list(path: string): string[]; stat(path: string): { allocated: number } | undefined };
}

export interface HostdTiming {
  /** `vim-cmd vmsvc/getallvms`, `vmware-cmd -l`. */
  listVmsMs: number;
  /** Snapshot listings: `vmsvc/get.snapshotinfo`, `snapshot.get`, `hassnapshot`. */
  listSnapshotsMs: number;
  /** A snapshot create without quiescing (hostd task, a .vmsn and a delta per disk). */
  createSnapshotMs: number;
  /** Added to a create that quiesces the guest (VMware Tools, sync driver or VSS). */
  quiesceMs: number;
  /** A snapshot remove, before the commit of the delta's data. */
  removeSnapshotMs: number;
  /** Added per MiB in the VM's delta files: the commit reads and writes what the guest wrote. */
  removePerDeltaMiBMs: number;
  /** Power on, off, shutdown, suspend. */
  powerMs: number;
  /** After a guest shutdown was asked for (power.shutdown, stop soft): until the guest OS has powered the VM off. A VM's inventory can say otherwise. */
  guestShutdownMs: number;
  /** After a power-on: until the guest OS has booted and VMware Tools report running (a guest that does not boot never does). */
  toolsStartMs: number;
}

/** Of the order a small ESXi host takes (see docs/simulator.md); the demo and the benchmarks run with it. */
export const REALISTIC_TIMING: HostdTiming = {
  listVmsMs: 300,
  listSnapshotsMs: 150,
  createSnapshotMs: 1500,
  quiesceMs: 2000,
  removeSnapshotMs: 1000,
  removePerDeltaMiBMs: 20,
  powerMs: 2000,
  guestShutdownMs: 15_000,
  toolsStartMs: 20_000,
};

/** For tests where timing is not the point: every operation as fast as the simulator can do it. */
export const FAST_TIMING: HostdTiming = {
  listVmsMs: 0,
  listSnapshotsMs: 0,
  createSnapshotMs: 0,
  quiesceMs: 0,
  removeSnapshotMs: 0,
  removePerDeltaMiBMs: 0,
  powerMs: 0,
  guestShutdownMs: 0,
  toolsStartMs: 0,
};

/** Environment variable that picks the profile of a host whose inventory names none (the test configuration sets fast). */
export const TIMING_ENV = 'VCBMOUNTER_SIM_TIMING';

export type TimingSetting = 'realistic' | 'fast' | Partial<HostdTiming> | undefined;

export function resolveTiming(setting: TimingSetting, env: NodeJS.ProcessEnv = process.env): HostdTiming {
  const named = setting ?? (env[TIMING_ENV] === 'fast' ? 'fast' : 'realistic');
  if (named === 'fast') return FAST_TIMING;
  if (named === 'realistic') return REALISTIC_TIMING;
  return { ...REALISTIC_TIMING, ...named };
}

type Operation = 'listVms' | 'listSnapshots' | 'create' | 'createQuiesced' | 'remove' | 'power' | undefined;

function vimCmdOperation(argv: readonly string[]): Operation {
  const sub = argv[1] ?? '';
  if (sub === 'vmsvc/getallvms') return 'listVms';
  if (sub === 'vmsvc/get.snapshotinfo' || sub === 'vmsvc/snapshot.get') return 'listSnapshots';
  // snapshot.create vmid name description includeMemory quiesced
  if (sub === 'vmsvc/snapshot.create') return argv[6] === '1' || argv[6] === 'true' ? 'createQuiesced' : 'create';
  if (sub === 'vmsvc/snapshot.remove' || sub === 'vmsvc/snapshot.removeall') return 'remove';
  if (/^vmsvc\/power\./.test(sub) && sub !== 'vmsvc/power.getstate') return 'power';
  return undefined;
}

function vmwareCmdOperation(argv: readonly string[]): Operation {
  if (argv[1] === '-l') return 'listVms';
  const op = argv[2] ?? '';
  if (op === 'hassnapshot') return 'listSnapshots';
  // vmx createsnapshot name description quiesce memory
  if (op === 'createsnapshot') return argv[5] === '1' ? 'createQuiesced' : 'create';
  if (op === 'removesnapshots') return 'remove';
  if (op === 'start' || op === 'stop' || op === 'suspend' || op === 'reset') return 'power';
  return undefined;
}

/** MiB in the delta files of the VM a command names (0 when it names none the host knows). */
function deltaMiB(host: TimedHost, name: string, argv: readonly string[]): number {
  try {
    const vm = name === 'vmware-cmd' ? host.byVmx(argv[1] ?? '') : host.byVmid(argv[2] ?? '');
    const bytes = host.vfs
      .list(vm.dir)
      .filter((file) => /-\d{6}-(delta|sesparse)\.vmdk$/.test(file))
      .reduce((sum, file) => sum + (host.vfs.stat(`${vm.dir}/${file}`)?.allocated ?? 0), 0);
    return bytes / (1024 * 1024);
  } catch {
    return 0;
  }
}

/** The wait hostd makes before a management command acts (0 for commands it answers at once). */
export function hostdDelayMs(host: TimedHost, timing: HostdTiming, argv: readonly string[]): number {
  const name = posix.basename(argv[0] ?? '');
  const op = name === 'vmware-cmd' ? vmwareCmdOperation(argv) : vimCmdOperation(argv);
  switch (op) {
    case 'listVms':
      return timing.listVmsMs;
    case 'listSnapshots':
      return timing.listSnapshotsMs;
    case 'create':
      return timing.createSnapshotMs;
    case 'createQuiesced':
      return timing.createSnapshotMs + timing.quiesceMs;
    case 'remove':
      return timing.removeSnapshotMs + timing.removePerDeltaMiBMs * deltaMiB(host, name, argv);
    case 'power':
      return timing.powerMs;
    default:
      return 0;
  }
}

/**
 * A management command that takes hostd's time before it acts. A client that goes away during the wait cancels
 * the operation here; a real hostd task would still complete (the `late` fault models that).
 */
export function withHostdTiming(impl: CommandImpl, host: TimedHost, timing: HostdTiming): CommandImpl {
  return async (io) => {
    const ms = hostdDelayMs(host, timing, io.argv);
    if (ms > 0) {
      try {
        await sleepAbortable(ms, io.signal);
      } catch {
        return 129;
      }
    }
    return impl(io);
  };
}
