// Lays out a VM's files on a simulated datastore from its inventory entry: .vmx, disks, .nvram, .vmsd, logs.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildBaseDescriptor, formatDescriptor, SECTOR_SIZE } from '../../formats/vmdk-descriptor.js';
import type { Vfs } from '../vmfs/types.js';
import type { DiskSpec, VmSpec } from '../inventory.js';
import { Prng, writePattern } from '../guest/pattern.js';
import { ConfigFile } from './vmx-file.js';

export interface FixtureManifest {
  images: Array<{ name: string; sizeBytes: number; pieces: Array<{ offset: number; file: string; length: number }> }>;
}

export function diskSlot(spec: DiskSpec, index: number): string {
  return spec.slot ?? `scsi0:${index}`;
}

/**
 * A display name as used in file names: %, / and \\ are escaped (%25, %2f, %5c) as ESX does, and so is `"` (%22),
 * which no descriptor can hold in its quoted extent file name.
 */
export function fileNameOf(displayName: string): string {
  return displayName.replace(/%/g, '%25').replace(/\//g, '%2f').replace(/\\/g, '%5c').replace(/"/g, '%22');
}

/** Disk file stem as ESX names them: web01, web01_1, web01_2 ... */
export function diskStem(vmName: string, index: number): string {
  return index === 0 ? vmName : `${vmName}_${index}`;
}

function hexBytes(prng: Prng, n: number): string[] {
  return Array.from({ length: n }, () => prng.int(256).toString(16).padStart(2, '0'));
}

/** BIOS uuid in .vmx form: "56 4d xx xx xx xx xx xx-xx xx xx xx xx xx xx xx". */
export function biosUuidFor(seed: number, vmName: string): string {
  const prng = new Prng(seed ^ [...vmName].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, 2166136261));
  const b = ['56', '4d', ...hexBytes(prng, 14)];
  return `${b.slice(0, 8).join(' ')}-${b.slice(8).join(' ')}`;
}

export function macFor(seed: number, vmid: number): string {
  const prng = new Prng(seed * 31 + vmid);
  return ['00', '0c', '29', ...hexBytes(prng, 3)].join(':');
}

/**
 * What this host writes as `uuid.location` for a .vmx at `vmxPath` (canonical): on a real host a hash of the host
 * and the path. A .vmx whose uuid.location differs was moved or copied there, and powering it on asks which.
 */
export function locationUuidFor(vmxPath: string): string {
  const b = [...createHash('sha256').update(`location:${vmxPath}`).digest().subarray(0, 16)].map((x) => x.toString(16).padStart(2, '0'));
  b[0] = '56';
  b[1] = '4d';
  return `${b.slice(0, 8).join(' ')}-${b.slice(8).join(' ')}`;
}

/** Writes every file of a new VM into `dir` (canonical datastore path) and returns the .vmx path. */
export function createVmFiles(vfs: Vfs, dir: string, spec: VmSpec, vmid: number, seed: number, fixturesDir: string): string {
  vfs.mkdir(dir, { recursive: true });
  const name = fileNameOf(spec.name);
  const vmx = new ConfigFile();
  const set = (k: string, v: string) => vmx.set(k, v);
  set('.encoding', 'UTF-8');
  set('config.version', '8');
  set('virtualHW.version', '13');
  set('nvram', `${name}.nvram`);
  set('pciBridge0.present', 'TRUE');
  set('svga.present', 'TRUE');
  set('displayName', spec.name);
  set('guestOS', spec.guestOS);
  set('memSize', '1024');
  set('numvcpus', '1');
  set('uuid.bios', spec.uuid ?? biosUuidFor(seed, spec.name));
  set('uuid.location', locationUuidFor(`${dir}/${name}.vmx`));
  set('vc.uuid', biosUuidFor(seed + 2, name).replace(/^56 4d/, '52 8a'));
  if (spec.annotation) set('annotation', spec.annotation);
  const controllers = new Set<string>();
  spec.disks.forEach((disk, i) => {
    const slot = diskSlot(disk, i);
    const ctrl = slot.split(':')[0]!;
    if (!controllers.has(ctrl)) {
      controllers.add(ctrl);
      set(`${ctrl}.present`, 'TRUE');
      if (ctrl.startsWith('scsi')) set(`${ctrl}.virtualDev`, 'lsilogic');
    }
    const stem = diskStem(name, i);
    set(`${slot}.present`, 'TRUE');
    set(`${slot}.fileName`, `${stem}.vmdk`);
    if (disk.rdm) {
      set(`${slot}.deviceType`, disk.rdm === 'physical' ? 'scsi-passthru' : 'scsi-hardDisk');
      createRdm(vfs, dir, stem, disk, seed + i, fixturesDir);
    } else {
      set(`${slot}.deviceType`, 'scsi-hardDisk');
      createDisk(vfs, dir, stem, disk, seed + i, fixturesDir);
    }
    if (disk.mode !== 'persistent') set(`${slot}.mode`, disk.mode);
  });
  set('ethernet0.present', 'TRUE');
  set('ethernet0.virtualDev', 'vmxnet3');
  set('ethernet0.networkName', 'VM Network');
  set('ethernet0.addressType', 'generated');
  set('ethernet0.generatedAddress', macFor(seed, vmid));
  set('tools.syncTime', 'FALSE');
  set('sched.swap.derivedName', `${dir}/${name}-${biosUuidFor(seed, name).replace(/[ -]/g, '').slice(0, 8)}.vswp`);
  const vmxPath = `${dir}/${name}.vmx`;
  vfs.writeFile(vmxPath, vmx.format());
  const nv = new Prng(seed + vmid);
  vfs.writeFile(`${dir}/${name}.nvram`, Buffer.from(Array.from({ length: 8684 }, () => nv.int(256))));
  if (spec.vmsd !== 'missing') vfs.writeFile(`${dir}/${name}.vmsd`, '.encoding = "UTF-8"\n');
  vfs.writeFile(`${dir}/vmware-1.log`, logLines(spec.name, 'previous power cycle'));
  vfs.writeFile(`${dir}/vmware.log`, logLines(spec.name, 'current power cycle'));
  return vmxPath;
}

function logLines(name: string, what: string): string {
  return [
    `2026-11-01T08:00:00.000Z| vmx| I125: Log for VMware ESX pid=1000 version=6.7.0 build=build-8169922 option=Release`,
    `2026-11-01T08:00:00.001Z| vmx| I125: DICT displayName = "${name}" (${what})`,
    `2026-11-01T08:00:01.000Z| vmx| I125: Tools: Running status rpc handler: 1 => 1.`,
    '',
  ].join('\n');
}

function createDisk(vfs: Vfs, dir: string, stem: string, disk: DiskSpec, seed: number, fixturesDir: string): void {
  const size = disk.size;
  if (size % SECTOR_SIZE !== 0) throw new Error(`disk size ${size} of ${stem} is not a multiple of 512`);
  const flat = `${dir}/${stem}-flat.vmdk`;
  vfs.createFile(flat, { size, thin: disk.thin });
  fillDisk(vfs, flat, disk, seed, fixturesDir);
  const desc = buildBaseDescriptor({ capacitySectors: size / SECTOR_SIZE, flatFileName: `${stem}-flat.vmdk`, thin: disk.thin });
  vfs.writeFile(`${dir}/${stem}.vmdk`, formatDescriptor(desc));
}

/** The disk's first contents: a guest image fixture, or fillBytes of seeded pattern, or nothing (zeros). */
function fillDisk(vfs: Vfs, dataFile: string, disk: DiskSpec, seed: number, fixturesDir: string): void {
  const file = vfs.open(dataFile);
  if (disk.fixture) {
    for (const piece of loadFixture(fixturesDir, disk.fixture, disk.size)) file.write(piece.data, piece.offset);
  } else if (disk.fillBytes) {
    const chunk = 1024 * 1024;
    for (let off = 0; off < Math.min(disk.fillBytes, disk.size); off += chunk) {
      file.write(writePattern(seed + 1000, off / chunk, Math.min(chunk, disk.fillBytes - off)), off);
    }
  }
}

/**
 * A raw device mapping: descriptor plus mapping file. The simulator keeps the mapped LUN's bytes in the
 * mapping file itself (a thin file), which is what reading the mapping file through VMFS returns on ESX.
 */
function createRdm(vfs: Vfs, dir: string, stem: string, disk: DiskSpec, seed: number, fixturesDir: string): void {
  const kind = disk.rdm === 'physical' ? 'vmfsPassthroughRawDeviceMap' : 'vmfsRawDeviceMap';
  const mapFile = `${stem}-${disk.rdm === 'physical' ? 'rdmp' : 'rdm'}.vmdk`;
  vfs.createFile(`${dir}/${mapFile}`, { size: disk.size, thin: true });
  fillDisk(vfs, `${dir}/${mapFile}`, disk, seed, fixturesDir);
  vfs.writeFile(
    `${dir}/${stem}.vmdk`,
    `# Disk DescriptorFile\nversion=1\nencoding="UTF-8"\nCID=fffffffe\nparentCID=ffffffff\ncreateType="${kind}"\n\n# Extent description\nRW ${disk.size / SECTOR_SIZE} VMFSRDM "${mapFile}"\n\n# The Disk Data Base\n#DDB\n\nddb.adapterType = "lsilogic"\n`,
  );
}

/** Decompresses a guest image from fixtures/guests into its pieces. */
export function loadFixture(fixturesDir: string, name: string, diskSize: number): Array<{ offset: number; data: Buffer }> {
  const manifestPath = join(fixturesDir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as FixtureManifest;
  const image = manifest.images.find((i) => i.name === name);
  if (!image) throw new Error(`fixture "${name}" is not in ${manifestPath}`);
  if (image.sizeBytes > diskSize) {
    throw new Error(`fixture "${name}" needs a disk of ${image.sizeBytes} bytes, the inventory gives ${diskSize}`);
  }
  return image.pieces.map((p) => ({ offset: p.offset, data: gunzipSync(readFileSync(join(fixturesDir, p.file))) }));
}
