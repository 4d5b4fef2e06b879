// A fake VM on a local "host" directory for export tests: its files, one disk on a LUN image, and export options.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExportDiskInput, ExportVmOptions } from '../../src/export/index.js';
import type { DiskReader } from '../../src/vlun/index.js';
import { buildFakeDisk, MiB, type BlockKind, type FakeDisk } from '../vlun/fake-host.js';
import { LocalShellTransport } from '../vlun/local-shell-transport.js';

export interface FakeVm {
  hostDir: string;
  vmDir: string;
  vmxPath: string;
  flatPath: string;
  lunPath: string;
  disk: FakeDisk;
  transport: LocalShellTransport;
  diskInput: ExportDiskInput;
  otherFiles: string[];
}

export const VMX_TEXT = [
  '.encoding = "UTF-8"',
  'displayName = "web 01"',
  'uuid.bios = "56 4d 12 34 56 78 9a bc-de f0 12 34 56 78 9a bc"',
  'scsi0.virtualDev = "lsilogic"',
  'scsi0:0.present = "TRUE"',
  'scsi0:0.fileName = "web 01-000002.vmdk"',
  'ethernet0.present = "TRUE"',
  '',
].join('\n');

export function makeFakeVm(root: string, kinds: readonly BlockKind[], tail: number): FakeVm {
  const hostDir = join(root, 'host');
  const vmDir = join(hostDir, `web 01 (it's "$(x)")`);
  mkdirSync(vmDir, { recursive: true });
  const vmxPath = join(vmDir, 'web 01.vmx');
  writeFileSync(vmxPath, VMX_TEXT);
  const otherFiles = ['web 01.nvram', 'web 01.vmsd', 'vmware.log', 'vmware-1.log', 'web 01-3f2a.vswp', 'web 01-000001-delta.vmdk', 'web 01-000001.vmdk'].map(
    (name) => join(vmDir, name),
  );
  for (const file of otherFiles) writeFileSync(file, `contents of ${file}\n`);
  const flatPath = join(vmDir, 'web 01-flat.vmdk');
  const disk = buildFakeDisk(kinds, tail, flatPath);
  writeFileSync(flatPath, disk.flatContent);
  const lunPath = join(root, 'lun.img');
  writeFileSync(lunPath, disk.lunContent);
  return {
    hostDir,
    vmDir,
    vmxPath,
    flatPath,
    lunPath,
    disk,
    transport: new LocalShellTransport(hostDir),
    otherFiles,
    diskInput: {
      slot: 'scsi0:0',
      sourceDatastorePath: '[datastore1] web 01/web 01.vmdk',
      capacity: disk.blockMap.size,
      thin: true,
      base: { dataPath: flatPath, blockMap: disk.blockMap },
    },
  };
}

export function exportOptions(vm: FakeVm, reader: DiskReader, destination: string, runId = 'run1'): ExportVmOptions {
  return {
    destination,
    runId,
    diskLayout: 'monolithicFlat',
    reader,
    transport: vm.transport,
    host: { name: 'esx01.example', version: 'VMware ESXi 6.7.0 build-8169922' },
    vm: { name: 'web 01', vmid: '12', biosUuid: '564d1234-5678-9abc-def0-123456789abc', vmxDatastorePath: '[datastore1] web 01/web 01.vmx', vmxPath: vm.vmxPath },
    snapshot: { name: 'vcbmounter-run1', id: '3', quiesced: true },
    toolVersion: '0.1.0',
    disks: [vm.diskInput],
    skippedDisks: [{ slot: 'scsi0:1', sourceDatastorePath: '[datastore1] web 01/logs.vmdk', reason: 'independent', detail: 'independent-persistent disks are not in snapshots' }],
    vmFiles: vm.otherFiles,
  };
}

export { MiB };
