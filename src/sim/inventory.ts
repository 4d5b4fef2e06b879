// The simulated host's inventory: schema of an inventory file and the built-in demo inventory.

import { readFileSync } from 'node:fs';
import * as z from 'zod';

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Accepts 268435456, "256M", "8G", "1.5G". */
export const sizeSchema = z.union([
  z.number().int().nonnegative(),
  z.string().transform((s, ctx) => {
    const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(s.trim());
    if (!m) {
      ctx.addIssue({ code: 'custom', message: `not a size: "${s}" (use bytes or e.g. 256M, 8G)` });
      return z.NEVER;
    }
    return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!);
  }),
]);

const scriptSchema = z.object({
  exitCode: z.number().int().default(0),
  /** How long the script runs, ms. */
  durationMs: z.number().int().nonnegative().default(0),
});

const backupScriptSchema = z.object({
  name: z.string().min(1),
  freezeExit: z.number().int().default(0),
  thawExit: z.number().int().default(0),
  durationMs: z.number().int().nonnegative().default(0),
});

const diskSchema = z.object({
  size: sizeSchema,
  thin: z.boolean().default(true),
  /** Controller slot, e.g. scsi0:1; default scsi0:<index>. */
  slot: z.string().regex(/^(scsi|ide|sata|nvme)\d+:\d+$/).optional(),
  mode: z.enum(['persistent', 'independent-persistent', 'independent-nonpersistent']).default('persistent'),
  /** A raw device mapping instead of a virtual disk. */
  rdm: z.enum(['physical', 'virtual']).optional(),
  /** Initial content: a guest image from fixtures/guests (by manifest name). */
  fixture: z.string().optional(),
  /** Initial content: this many bytes of seeded pseudo-random data at the start of the disk. */
  fillBytes: sizeSchema.optional(),
});

const vmSchema = z.object({
  name: z.string().min(1),
  vmid: z.number().int().positive().optional(),
  datastore: z.string().optional(),
  /** Folder on the datastore; defaults to the name. */
  dir: z.string().optional(),
  guestOS: z.string().default('otherLinux64Guest'),
  family: z.enum(['linux', 'windows']).default('linux'),
  power: z.enum(['on', 'off', 'suspended']).default('on'),
  uuid: z.string().optional(),
  ip: z.string().optional(),
  tools: z
    .object({ installed: z.boolean().default(true), running: z.boolean().default(true), version: z.number().int().default(11269) })
    .default({ installed: true, running: true, version: 11269 }),
  disks: z.array(diskSchema).min(1),
  guest: z
    .object({
      /** Guest writes per second while powered on (0 = idle). */
      writesPerSecond: z.number().nonnegative().default(5),
      /** Bytes per write, a multiple of 512. */
      writeSize: z.number().int().positive().multipleOf(512).default(4096),
      seed: z.number().int().default(1),
      /** Buffered writes reach the disk this often, ms; a quiesce flushes them at once. */
      flushIntervalMs: z.number().int().positive().default(500),
      /** Writes land within the first N bytes of each disk (default: whole disk). */
      region: sizeSchema.optional(),
      /** Writes land at or after byte N of each disk (free space beyond the guest's file systems, say). */
      regionStart: sizeSchema.optional(),
    })
    .default({ writesPerSecond: 5, writeSize: 4096, seed: 1, flushIntervalMs: 500 }),
  quiesce: z
    .object({
      preFreeze: scriptSchema.optional(),
      postThaw: scriptSchema.optional(),
      backupScripts: z.array(backupScriptSchema).default([]),
      /** The sync driver / VSS step: 'ok'; 'fail' (the quiesced snapshot fails); 'hang' (no answer: the snapshot fails after hangMs). */
      syncDriver: z.enum(['ok', 'fail', 'hang']).default('ok'),
      /** Time the freeze holds I/O while the snapshot is taken, ms. */
      freezeMs: z.number().int().nonnegative().default(50),
      /** With syncDriver 'hang': how long the host waits before giving up on the quiesce, ms. */
      hangMs: z.number().int().nonnegative().default(600_000),
    })
    .default({ backupScripts: [], syncDriver: 'ok', freezeMs: 50, hangMs: 600_000 }),
  /**
   * hostd's snapshot file: 'current' (rewritten on every snapshot create and remove); 'stale' (never
   * rewritten: it stays as it was when the VM was built, whatever hassnapshot says, as when hostd's
   * snapshot file falls out of step); 'missing' (there is none, and hostd does not write one).
   */
  vmsd: z.enum(['current', 'stale', 'missing']).default('current'),
  /**
   * ESXi only (ESX 3.x has no such state): the next `unconsolidatedRemovals` snapshot removals take the snapshot
   * out of the tree but leave its deltas, so the VM keeps running on them (get.summary: consolidationNeeded =
   * true), as ESXi 5+ does when a consolidation fails; the next `failingConsolidations` snapshot.consolidate
   * runs fail. Tests change the counts on a running host through the VM's state (consolidationFaults).
   */
  consolidation: z
    .object({ unconsolidatedRemovals: z.number().int().nonnegative().default(0), failingConsolidations: z.number().int().nonnegative().default(0) })
    .optional(),
  /**
   * Snapshots taken when the inventory is built (user snapshots). `format` forces the delta format of that
   * snapshot's links (as if it was taken while the VM lived on another datastore); without it the datastore
   * decides, as for any snapshot (see deltaFormatFor in sim/esx/snapshot-create.ts).
   */
  snapshots: z
    .array(z.object({ name: z.string(), description: z.string().default(''), format: z.enum(['vmfsSparse', 'seSparse']).optional() }))
    .default([]),
  annotation: z.string().default(''),
  /**
   * The guest's clean shutdown (power.shutdown, stop soft): it takes `durationMs` (default: the host's
   * guestShutdownMs, see sim/esx/hostd-timing.ts); with `hang` it never finishes (a guest stuck on shutdown).
   */
  /**
   * Whether the guest OS comes up at power-on, and with it VMware Tools (the host's toolsStartMs later): 'yes';
   * 'no' (a guest that never boots: Tools never report running); 'disk' (only when the first disk carries a boot
   * signature, 0x55 0xAA at byte 510, as a BIOS asks of a boot sector: what a VM registered from uploaded files gets).
   */
  boot: z.enum(['yes', 'no', 'disk']).default('yes'),
  shutdown: z.object({ durationMs: z.number().int().nonnegative().optional(), hang: z.boolean().default(false) }).default({ hang: false }),
});

export const inventorySchema = z.object({
  host: z
    .object({
      kind: z.enum(['esxi', 'esx3']).default('esxi'),
      version: z.string().optional(),
      hostname: z.string().default('esx-sim.local'),
      /** The host's sshd_config where it differs from its kind's (see sshdPolicyFor). */
      ssh: z
        .object({
          authMethods: z.array(z.enum(['publickey', 'password', 'keyboard-interactive'])).min(1).optional(),
          maxSessions: z.number().int().positive().optional(),
          /** Seconds; 0 never closes an unused connection. */
          unusedConnectionTimeout: z.number().nonnegative().optional(),
        })
        .default({}),
      /**
       * What `vmkfstools -t0` does with the descriptor of a snapshot link (a sparse delta): 'file' maps the
       * delta file; 'refuse' fails, as hosts that will not map a snapshot delta do.
       */
      snapshotDeltaMaps: z.enum(['file', 'refuse']).default('file'),
      /**
       * How long hostd takes (sim/esx/hostd-timing.ts): 'realistic', 'fast', or realistic with some fields set (ms).
       * Absent: realistic, or fast where $VCBMOUNTER_SIM_TIMING=fast (the test configuration).
       */
      timing: z
        .union([
          z.enum(['realistic', 'fast']),
          z
            .object({
              listVmsMs: z.number().nonnegative(),
              listSnapshotsMs: z.number().nonnegative(),
              createSnapshotMs: z.number().nonnegative(),
              quiesceMs: z.number().nonnegative(),
              removeSnapshotMs: z.number().nonnegative(),
              removePerDeltaMiBMs: z.number().nonnegative(),
              powerMs: z.number().nonnegative(),
              guestShutdownMs: z.number().nonnegative(),
              toolsStartMs: z.number().nonnegative(),
            })
            .partial()
            .strict(),
        ])
        .optional(),
    })
    .default({ kind: 'esxi', hostname: 'esx-sim.local', ssh: {}, snapshotDeltaMaps: 'file' }),
  datastores: z
    .array(
      z.object({
        name: z.string().min(1),
        capacity: sizeSchema,
        blockSize: sizeSchema.optional(),
        uuid: z.string().optional(),
        /** As a SAN LUN is laid out: 'mbr' (ESX 3.x, partition at sector 128) or 'gpt' (ESXi 5+, sector 2048). */
        partitionTable: z.enum(['none', 'mbr', 'gpt']).optional(),
        /** The volume spans two LUNs: this much of it on the first (whole blocks). */
        spanAt: sizeSchema.optional(),
        /** 5 (VMFS5: COWD snapshot deltas below 2 TiB) or 6 (VMFS6: SEsparse deltas for every disk). */
        vmfsVersion: z.union([z.literal(5), z.literal(6)]).default(5),
      }),
    )
    .min(1),
  vms: z.array(vmSchema),
  seed: z.number().int().default(42),
}).superRefine((inv, ctx) => {
  // VMFS6 came with ESXi 6.5: an older host cannot mount it, so it never writes SEsparse deltas there.
  const version = inv.host.version ?? defaultVersion(inv.host.kind);
  const m = /ESXi (\d+)\.(\d+)/.exec(version);
  const mountsVmfs6 = inv.host.kind === 'esxi' && m !== null && (Number(m[1]) > 6 || (Number(m[1]) === 6 && Number(m[2]) >= 5));
  inv.datastores.forEach((d, i) => {
    if (d.vmfsVersion === 6 && !mountsVmfs6) {
      ctx.addIssue({ code: 'custom', path: ['datastores', i, 'vmfsVersion'], message: `VMFS6 needs ESXi 6.5 or later; this host is ${version}` });
    }
  });
});

export type Inventory = z.infer<typeof inventorySchema>;
export type VmSpec = Inventory['vms'][number];
export type DiskSpec = VmSpec['disks'][number];
export type QuiesceSpec = VmSpec['quiesce'];

export function defaultVersion(kind: 'esxi' | 'esx3'): string {
  return kind === 'esxi' ? 'VMware ESXi 6.7.0 build-8169922' : 'VMware ESX Server 3.5.0 build-64607';
}

/** Parses an inventory; errors name the path of the bad field and its value. */
export function parseInventory(data: unknown, source = 'inventory'): Inventory {
  const r = inventorySchema.safeParse(data);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${source} is not a valid inventory:\n${lines.join('\n')}`);
  }
  return r.data;
}

export function loadInventory(spec: string): Inventory {
  if (spec === 'demo') return demoInventory();
  let text: string;
  try {
    text = readFileSync(spec, 'utf8');
  } catch (e) {
    throw new Error(`cannot read inventory file ${spec}: ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`inventory file ${spec} is not valid JSON: ${(e as Error).message}`);
  }
  return parseInventory(data, `inventory file ${spec}`);
}

/** The demo host: an ESXi host with a handful of small VMs covering the cases a backup must handle. */
export function demoInventory(): Inventory {
  return parseInventory({
    host: { kind: 'esxi', hostname: 'esx-demo.local' },
    datastores: [{ name: 'datastore1', capacity: '4G' }],
    vms: [
      {
        name: 'web01',
        vmid: 12,
        guestOS: 'otherLinux64Guest',
        ip: '10.1.1.107',
        disks: [{ size: '256M', thin: true, fixture: 'linux01-disk0' }],
        // The guest's seeded writes go to free space after its partitions, so that its file systems stay whole (-t file).
        guest: { writesPerSecond: 5, writeSize: 4096, seed: 1, flushIntervalMs: 500, regionStart: '140M', region: '96M' },
        quiesce: {
          backupScripts: [{ name: '10-db-flush' }, { name: '20-app-pause' }],
          preFreeze: { exitCode: 0 },
          postThaw: { exitCode: 0 },
        },
        annotation: 'Linux web server (GPT, ext4)',
      },
      {
        name: 'win01',
        vmid: 13,
        guestOS: 'windows9Server64Guest',
        family: 'windows',
        ip: '10.1.1.108',
        disks: [
          { size: '256M', thin: false, fixture: 'win01-disk0' },
          { size: '128M', thin: true, fixture: 'win01-disk1' },
        ],
        annotation: 'Windows file server (MBR, NTFS C: and D:)',
        // Its NTFS volumes fill its disks: seeded random writes would damage them, and -t file mounts them.
        guest: { writesPerSecond: 0 },
      },
      { name: 'db-cold', vmid: 14, power: 'off', disks: [{ size: '64M', fillBytes: '8M' }] },
      {
        name: 'app02',
        vmid: 15,
        ip: '10.1.1.110',
        disks: [{ size: '64M', fillBytes: '16M' }],
        snapshots: [{ name: 'before-upgrade', description: 'taken by the admin' }],
      },
      { name: 'legacy-notools', vmid: 16, tools: { installed: false, running: false }, disks: [{ size: '64M', fillBytes: '4M' }] },
      {
        name: `test vm (it's "quoted"); $(touch /tmp/pwned)`,
        vmid: 17,
        ip: '10.1.1.111',
        disks: [{ size: '32M', fillBytes: '2M' }],
      },
    ],
  });
}
