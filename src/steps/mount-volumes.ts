// Step mount: find every guest volume on the disk files, attach each to a read-only loop device and mount it read-only under DIR (also mount-backup's way).

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { VcbError } from '../errors.js';
import { findVolumes } from '../guestfs/index.js';
import { attachLoop } from '../mount/loop-device.js';
import { LAYOUT_DIRS, writeManifest, type VolumeRecord } from '../mount/layout.js';
import { digitsName, driveLetters, parseFstab, recognisableNames } from '../mount/volume-names.js';
import { bindPlan, mountPlan, mountVolume, notMountable } from '../mount/volume-mount.js';
import { BACKUP_SNAPSHOT_NAME } from '../esx/index.js';
import { serverErrorsSince } from '../serve/server-log.js';
import type { JobStep, MountingContext } from './step.js';

/**
 * Reads of a disk file, as the partition and superblock probes want them. The probes take a read they cannot
 * make for damage and go on; here it is the disk server failing to read the host, which must fail the run
 * (a volume left out for it would make the mount look complete): the first such error is kept.
 */
async function diskReader(file: string) {
  const handle = await open(file, 'r');
  const reader = {
    failed: undefined as Error | undefined,
    read: async (offset: number, length: number) => {
      const buf = Buffer.alloc(length);
      try {
        const { bytesRead } = await handle.read(buf, 0, length, offset);
        return bytesRead === length ? buf : buf.subarray(0, bytesRead);
      } catch (e) {
        reader.failed ??= e as Error;
        throw e;
      }
    },
    close: () => handle.close(),
  };
  return reader;
}

/** What to mount: the disks (in order), their files as nbdfuse presents them, and what the disk server reads. */
export interface MountInput {
  disks: ReadonlyArray<{ device: string; capacity: number }>;
  diskFiles: readonly string[];
  serverLogFile: string;
  /** What the disk server reads, for errors: "the snapshot disks from the host". */
  serverReads: string;
  /** The VM, for errors. */
  vm: string;
  /** Where warnings go (the run's summary and the manifest). */
  warnings: string[];
}

/** Any read the disk server could not make since `since` fails the step: what is mounted would be incomplete or wrong. */
function failOnServerErrors(input: MountInput, since: number, what: string): void {
  const errors = serverErrorsSince(input.serverLogFile, since);
  if (errors.length === 0) return;
  throw new VcbError('MOUNT', `${what}: the disk server could not read ${input.serverReads} (${errors[errors.length - 1]}); nothing stays mounted`);
}

/** Mounts one volume at digits/<disk>-<partition>; a failure is the volume's, recorded with the reason, not the run's. */
async function mountOne(ctx: MountingContext, record: VolumeRecord, file: string): Promise<void> {
  const mountPoint = join(ctx.dir, 'digits', digitsName(record));
  const what = `${record.fileSystem} volume ${record.device} partition ${record.partition}`;
  const loop = ctx.acquire('loop-device', `read-only loop device for ${what}`, { backingFile: file, offset: record.startBytes });
  let mount: ReturnType<MountingContext['acquire']> | undefined;
  let plan;
  try {
    const device = await attachLoop(file, record.startBytes, record.sizeBytes);
    loop.update({ device });
    plan = mountPlan(record.fileSystem, device, mountPoint);
    if ('skip' in plan) throw new Error(plan.skip);
    mkdirSync(mountPoint);
    mount = ctx.acquire('volume-mount', `${what} mounted at ${mountPoint}`, { mountPoint });
    await mountVolume(plan);
  } catch (e) {
    await mount?.releaseNow();
    await loop.releaseNow();
    throw e;
  }
  record.paths.push(`digits/${digitsName(record)}`);
  record.driver = plan.driver;
}

/** The guest's own mount points, from the /etc/fstab of any mounted Linux volume that has one. */
function guestMountPoints(ctx: MountingContext, records: VolumeRecord[]): void {
  for (const r of records) {
    if (!r.paths.length || !r.fileSystem.startsWith('ext')) continue;
    const fstab = join(ctx.dir, r.paths[0]!, 'etc', 'fstab');
    if (!existsSync(fstab)) continue;
    for (const e of parseFstab(readFileSync(fstab, 'utf8'))) {
      const target = records.find((v) => (e.uuid && v.uuid?.toLowerCase() === e.uuid) || (e.label && v.label === e.label));
      if (target && !target.guestMountPoint) target.guestMountPoint = e.mountPoint;
    }
  }
}

async function bindUnder(ctx: MountingContext, record: VolumeRecord, sub: 'letters' | 'names', name: string): Promise<void> {
  const source = join(ctx.dir, record.paths[0]!);
  const target = join(ctx.dir, sub, name);
  mkdirSync(target);
  ctx.acquire('volume-mount', `${source} also at ${target}`, { mountPoint: target });
  await mountVolume(bindPlan(source, target));
  record.paths.push(`${sub}/${name}`);
}

/**
 * Makes DIR's layout (digits/, letters/, names/; the mount-dir resource), then finds every volume on every disk
 * file and mounts it read-only. A volume that cannot be mounted is recorded with its reason; none at all, or a
 * read the disk server could not make, fails the whole (nothing stays mounted).
 */
export async function mountGuestVolumes(ctx: MountingContext, input: MountInput): Promise<VolumeRecord[]> {
  const { dir } = ctx;
  const since = Date.now();
  const created = !existsSync(dir);
  ctx.acquire('mount-dir', `mount directory ${dir}`, { dir, runId: ctx.runId, created });
  mkdirSync(dir, { recursive: true });
  for (const sub of LAYOUT_DIRS) mkdirSync(join(dir, sub));
  const records: VolumeRecord[] = [];
  for (const [i, d] of input.disks.entries()) {
    const file = input.diskFiles[i]!;
    const disk = await diskReader(file);
    let found;
    try {
      found = await findVolumes(disk.read, d.capacity);
    } catch (e) {
      if (!disk.failed) throw e;
    } finally {
      await disk.close();
    }
    if (disk.failed || !found) {
      failOnServerErrors(input, since, `reading ${d.device}`);
      throw new VcbError('MOUNT', `reading ${d.device} through its disk file failed (${disk.failed?.message}); nothing stays mounted`);
    }
    for (const w of found.warnings) input.warnings.push(`${d.device}: ${w}`);
    for (const v of found.volumes) {
      const record: VolumeRecord = {
        disk: i,
        device: d.device,
        partition: v.index,
        partitionTable: v.table,
        ...(v.partitionType !== undefined ? { partitionType: v.partitionType } : {}),
        startBytes: v.start,
        sizeBytes: v.size,
        fileSystem: v.fs.type,
        ...(v.fs.label ? { label: v.fs.label } : {}),
        ...(v.fs.uuid ? { uuid: v.fs.uuid } : {}),
        ...(v.fs.dirty ? { dirty: true } : {}),
        paths: [],
      };
      records.push(record);
      const skip = notMountable(record.fileSystem);
      if (skip) {
        record.notMounted = skip;
        if (record.fileSystem !== 'swap') input.warnings.push(`${d.device} partition ${record.partition} not mounted: ${skip}`);
        continue;
      }
      try {
        await mountOne(ctx, record, file);
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        record.notMounted = (e as Error).message;
        input.warnings.push(`${d.device} partition ${record.partition} (${record.fileSystem}) not mounted: ${record.notMounted}`);
        ctx.log.warn({ disk: d.device, partition: record.partition, err: record.notMounted }, 'a volume could not be mounted');
      }
    }
  }
  failOnServerErrors(input, since, `mounting the volumes of ${input.vm}`);
  const mounted = records.filter((r) => r.paths.length > 0);
  if (mounted.length === 0) {
    const why = records.length ? records.map((r) => `${r.device} partition ${r.partition}: ${r.notMounted}`).join('; ') : 'no partition table or file system found on any disk';
    throw new VcbError('MOUNT', `no guest volume of ${input.vm} could be mounted (${why})`);
  }
  guestMountPoints(ctx, records);
  for (const [record, letter] of driveLetters(mounted)) {
    record.letter = letter;
    await bindUnder(ctx, record, 'letters', letter);
  }
  for (const [record, name] of recognisableNames(mounted)) await bindUnder(ctx, record, 'names', name);
  failOnServerErrors(input, since, `reading the guest's fstab under ${dir}`);
  return records;
}

export const mountVolumes: JobStep = {
  name: 'mount',
  describe: (_o, dir) => `find the guest volumes (MBR, GPT; NTFS, FAT, ext2/3/4) and mount each read-only under ${dir}/digits, letters and names, with a manifest`,
  acquires: ['mount-dir', 'loop-device', 'volume-mount'],
  errorCode: 'MOUNT',
  // Not sent by this process: the disk server reads the host for what probing and mounting read.
  hostCommands: ['^dd '],
  writesDestination: true,
  async run(ctx) {
    const { job, dir } = ctx;
    const records = await mountGuestVolumes(ctx, {
      disks: job.disks,
      diskFiles: job.diskFiles!,
      serverLogFile: job.server!.logFile,
      serverReads: 'the snapshot disks from the host',
      vm: job.vm!.ref.name,
      warnings: job.warnings,
    });
    job.volumes = records;
    writeManifest(dir, {
      format: 'vcbmounter-volumes',
      version: 1,
      runId: ctx.runId,
      host: job.session!.label,
      vm: job.vm!.ref.name,
      snapshot: { name: BACKUP_SNAPSHOT_NAME, quiesced: job.quiesced },
      mode: ctx.o.mode,
      createdAt: new Date().toISOString(),
      volumes: records,
      warnings: job.warnings,
    });
  },
};
