// The benchmark's simulated host: an inventory of idle VMs sized by the flags, thin disks written in scattered blocks,
// guest disks holding an ext4 volume of many files (the -t file cases), SSH keys.

import { createHash, randomFillSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMountTable } from '../../src/mount/mount-table.js';
import { Prng } from '../../src/sim/guest/pattern.js';
import { parseInventory, type Inventory } from '../../src/sim/inventory.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { loadOrCreateHostKey } from '../../src/sim/ssh-server.js';
import { projectRoot } from '../test-support/project-root.js';
import { needsExportDisks, runsGroup, type BenchArgs } from './args.js';
import { buildGuestDisk, eachDataPiece, planGuestVolume, type GuestVolumePlan } from './guest-volume.js';

const MIB = 1024 * 1024;
const FIXTURE_VERSION = 3;
const READY_MARKER = 'bench-fixture.json';

export const VM = {
  tiny: 'bench-tiny',
  thick: 'bench-thick',
  thin: 'bench-thin',
  memorySmall: 'mem-small',
  memoryLarge: 'mem-large',
  volumeSmall: 'files-small',
  volumeLarge: 'files-large',
} as const;

/** Seeds of the two guest volumes' file trees. */
const VOLUME_SEEDS = { [VM.volumeSmall]: 51, [VM.volumeLarge]: 52 } as const;

/** The guest volumes of the -t file cases, by VM name (none when the run leaves those cases out). */
export function volumePlans(args: BenchArgs): Record<string, GuestVolumePlan> {
  if (!runsGroup(args, 'file')) return {};
  return {
    [VM.volumeSmall]: planGuestVolume(args.volumeSmall, VOLUME_SEEDS[VM.volumeSmall]),
    [VM.volumeLarge]: planGuestVolume(args.volumeLarge, VOLUME_SEEDS[VM.volumeLarge]),
  };
}

export interface BenchHost {
  sim: Simulator;
  /** Scratch directory for keys and CLI state; removed by close(). */
  work: string;
  /** Where exports and the baselines' copies go: `work`, or a directory made under --out-dir; removed by close(). */
  out: string;
  /**
   * Where the san comparison's exports go: `out` when --out-dir was given or `out` is already off the LUN's
   * file system; otherwise a directory on another file system with room (see SAN_OUTPUT_CANDIDATES), or
   * `out` when there is none. Removed by close().
   */
  sanOut: string;
  identityFile: string;
  knownHostsFile: string;
  /** Canonical host path of a VM's first flat extent. */
  flatPath(vm: string): string;
  /** Bytes written into each thin disk, by VM name. */
  thinWritten: Record<string, number>;
  /** The guest volume on each -t file VM's disk, by VM name. */
  volumes: Record<string, GuestVolumePlan>;
  /** True when the state directory came from the cache (nothing had to be built). */
  reusedCache: boolean;
  close(): Promise<void>;
}

function fixtureKey(args: BenchArgs): string {
  const { size, memorySmall, memoryLarge, thinFraction, volumeSmall, volumeLarge, only } = args;
  return JSON.stringify({ version: FIXTURE_VERSION, size, memorySmall, memoryLarge, thinFraction, volumeSmall, volumeLarge, only: only ?? 'all' });
}

function benchInventory(args: BenchArgs, volumes: Record<string, GuestVolumePlan>): Inventory {
  const exportCases = needsExportDisks(args);
  const idle = { power: 'off', guest: { writesPerSecond: 0 } };
  // The -t file VMs run (with VMware Tools, so the snapshot quiesces, as for a running guest), but write nothing:
  // guest writes would land in the ext4 volume.
  const running = { power: 'on', guest: { writesPerSecond: 0 } };
  const vms = [
    ...(exportCases
      ? [
          { name: VM.tiny, ...idle, disks: [{ size: MIB, thin: false, fillBytes: MIB }] },
          { name: VM.thick, ...idle, disks: [{ size: args.size, thin: false, fillBytes: args.size }] },
          { name: VM.thin, ...idle, disks: [{ size: args.size, thin: true }] },
          { name: VM.memorySmall, ...idle, disks: [{ size: args.memorySmall, thin: true }] },
          { name: VM.memoryLarge, ...idle, disks: [{ size: args.memoryLarge, thin: true }] },
        ]
      : []),
    ...Object.entries(volumes).map(([name, plan]) => ({ name, ...running, disks: [{ size: plan.diskSize, thin: true }] })),
  ];
  const disksTotal = (exportCases ? MIB + 2 * args.size + args.memorySmall + args.memoryLarge : 0) + Object.values(volumes).reduce((sum, p) => sum + p.diskSize, 0);
  return parseInventory({
    host: { kind: 'esxi', hostname: 'esx-bench.local' },
    datastores: [{ name: 'datastore1', capacity: Math.ceil((disksTotal * 1.25) / MIB) * MIB + 1024 * MIB }],
    vms,
  });
}

/** Builds each guest disk as a raw image in `work` and writes its data (not its zeros) into the VM's thin flat file. */
function writeGuestVolumes(sim: Simulator, volumes: Record<string, GuestVolumePlan>, flatPath: (vm: string) => string, work: string, log: (line: string) => void): void {
  for (const [vm, plan] of Object.entries(volumes)) {
    const started = Date.now();
    const image = join(work, `${vm}.img`);
    try {
      buildGuestDisk(plan, image, work);
      const file = sim.esx.vfs.open(flatPath(vm));
      const written = eachDataPiece(image, (offset, data) => file.write(data, offset));
      log(`  guest disk of ${vm}: ${plan.files.length + 2} files, ${(plan.diskSize / MIB).toFixed(0)} MiB disk, ${(written / MIB).toFixed(0)} MiB written, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      rmSync(image, { force: true });
    }
  }
}

/** Writes `bytes` (rounded to 1 MiB blocks) at blocks spread over the disk by a seeded shuffle, with random data. Returns bytes written. */
function scatterWrites(sim: Simulator, path: string, size: number, bytes: number, seed: number): number {
  const blocks = size / MIB;
  const count = Math.min(blocks, Math.max(1, Math.round(bytes / MIB)));
  const order = Array.from({ length: blocks }, (_, i) => i);
  const prng = new Prng(seed);
  for (let i = 0; i < count; i++) {
    const j = i + prng.int(blocks - i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const chosen = order.slice(0, count).sort((a, b) => a - b);
  const file = sim.esx.vfs.open(path);
  const data = Buffer.allocUnsafe(MIB);
  for (const block of chosen) file.write(randomFillSync(data), block * MIB);
  return count * MIB;
}

function stateDirFor(args: BenchArgs): { dir: string; cached: boolean } {
  if (!args.cache) return { dir: mkdtempSync(join(tmpdir(), 'vcbmounter-bench-state-')), cached: false };
  const digest = createHash('sha256').update(fixtureKey(args)).digest('hex').slice(0, 12);
  return { dir: join(tmpdir(), `vcbmounter-bench-cache-${digest}`), cached: true };
}

function createClientKey(work: string): { identityFile: string; publicKey: string } {
  const identityFile = join(work, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vcbmounter-bench', '-f', identityFile]);
  return { identityFile, publicKey: readFileSync(`${identityFile}.pub`, 'utf8').trim() };
}

/**
 * Where the san export may go when the user did not choose: file systems a proxy-like layout can use
 * besides the one holding the LUN image. On a one-disk machine only a RAM disk qualifies.
 */
export const SAN_OUTPUT_CANDIDATES = ['/dev/shm'];

/**
 * A directory for the san comparison's exports on another file system than `lunImage`, with room for an
 * export of `bytes` plus a quarter; undefined when no candidate qualifies.
 */
export function separateSanOutput(lunImage: string, bytes: number, candidates: readonly string[] = SAN_OUTPUT_CANDIDATES): string | undefined {
  const lunDev = statSync(lunImage).dev;
  for (const dir of candidates) {
    try {
      const st = statSync(dir);
      if (!st.isDirectory() || st.dev === lunDev) continue;
      const fs = statfsSync(dir);
      if (fs.bavail * fs.bsize >= bytes * 1.25) return mkdtempSync(join(dir, 'vcbmounter-bench-san-'));
    } catch {
      // not there or not writable: try the next
    }
  }
  return undefined;
}

export async function startBenchHost(args: BenchArgs, log: (line: string) => void): Promise<BenchHost> {
  const work = mkdtempSync(join(tmpdir(), 'vcbmounter-bench-'));
  const out = args.outDir ? mkdtempSync(join(args.outDir, 'vcbmounter-bench-out-')) : work;
  const state = stateDirFor(args);
  const marker = join(state.dir, READY_MARKER);
  const reusable = state.cached && existsSync(marker) && readFileSync(marker, 'utf8') === fixtureKey(args);
  if (state.cached && !reusable) rmSync(state.dir, { recursive: true, force: true });
  try {
    const key = createClientKey(work);
    if (!reusable) log(`building the simulated host in ${state.dir} (${state.cached ? 'cached for later runs' : 'removed at the end'})`);
    const started = Date.now();
    // The simulator's own default finds fixtures/ by its compiled depth, which differs under dist-tools/.
    const fixturesDir = join(projectRoot(), 'fixtures', 'guests');
    const volumes = volumePlans(args);
    const sim = await startSimulator({ stateDir: state.dir, inventory: benchInventory(args, volumes), authorizedKeys: [key.publicKey], fixturesDir });
    const flatPath = (vm: string) => sim.esx.vfs.canonical(`[datastore1] ${vm}/${vm}-flat.vmdk`);
    // Both memory-case disks hold the same bytes, so the comparison isolates the disk's size.
    const memoryBytes = args.memorySmall * args.thinFraction;
    const thinDisks: Array<[string, number, number, number]> = needsExportDisks(args)
      ? [
          [VM.thin, args.size, args.size * args.thinFraction, 1],
          [VM.memorySmall, args.memorySmall, memoryBytes, 2],
          [VM.memoryLarge, args.memoryLarge, memoryBytes, 3],
        ]
      : [];
    const thinWritten: Record<string, number> = {};
    for (const [vm, size, bytes, seed] of thinDisks) {
      thinWritten[vm] = reusable ? sim.esx.vfs.stat(flatPath(vm))!.allocated : scatterWrites(sim, flatPath(vm), size, bytes, seed);
    }
    if (!reusable) {
      writeGuestVolumes(sim, volumes, flatPath, work, log);
      sim.esx.vfs.flush();
      if (state.cached) writeFileSync(marker, fixtureKey(args));
      log(`built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    const hostKey = loadOrCreateHostKey(join(state.dir, 'ssh_host_ed25519_key'));
    const knownHostsFile = join(work, 'known_hosts');
    writeFileSync(knownHostsFile, `[127.0.0.1]:${sim.port} ${hostKey.publicKey}\n`);
    const lunImage = sim.esx.vfs.datastores()[0]!.lunPath;
    // separateSanOutput never throws and nothing after it can fail: close() is what removes this directory.
    const sanOut = !runsGroup(args, 'export') || args.outDir || statSync(out).dev !== statSync(lunImage).dev ? out : (separateSanOutput(lunImage, args.size) ?? out);
    return {
      sim,
      work,
      out,
      sanOut,
      identityFile: key.identityFile,
      knownHostsFile,
      flatPath,
      thinWritten,
      volumes,
      reusedCache: reusable,
      async close() {
        // A -t file run whose -U failed may have left a mount in `work`: removing the tree would reach into it.
        const mounted = readMountTable().filter((m) => m.mountPoint.startsWith(`${work}/`));
        await sim.stop();
        if (!state.cached) rmSync(state.dir, { recursive: true, force: true });
        if (mounted.length) throw new Error(`not removing ${work}: still mounted there: ${mounted.map((m) => m.mountPoint).join(', ')}`);
        rmSync(work, { recursive: true, force: true });
        rmSync(out, { recursive: true, force: true });
        rmSync(sanOut, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
    if (!state.cached) rmSync(state.dir, { recursive: true, force: true });
    throw error;
  }
}
