// `vim-cmd` of the simulated ESXi host: the vmsvc/* and solo/* operations with the host's output formats.

import type { CommandImpl } from '../../shell/types.js';
import type { SimHost } from '../host.js';
import type { SimVm, SnapshotRecord } from '../vm.js';
import { HostFault } from '../vm-state.js';
import { out } from './io.js';

const GUEST_NAMES: Record<string, string> = {
  otherLinux64Guest: 'Other Linux (64-bit)',
  windows9Server64Guest: 'Microsoft Windows Server 2016 (64-bit)',
};

function q(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** BIOS uuid "56 4d 12 ... -..." in the dashed form the API prints. */
export function apiUuid(vmxUuid: string): string {
  const hex = vmxUuid.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function faultBlock(f: HostFault): string {
  return `(${f.fault}) {\n   faultCause = (vmodl.MethodFault) null,\n   faultMessage = (vmodl.LocalizableMessage) [],\n   msg = ${q(f.message)}\n}\n`;
}

function getAllVms(host: SimHost): string {
  const rows = host.vms().map((vm) => [String(vm.vmid), vm.name, host.vfs.bracketPath(vm.state.vmxPath), vm.spec.guestOS, 'vmx-13', vm.spec.annotation]);
  const head = ['Vmid', 'Name', 'File', 'Guest OS', 'Version', 'Annotation'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 3);
  const line = (r: string[]) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]!) : c)).join('').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

function powerText(vm: SimVm): string {
  return vm.power === 'on' ? 'Powered on' : vm.power === 'off' ? 'Powered off' : 'Suspended';
}

function summary(host: SimHost, vm: SimVm): string {
  const cfg = vm.config();
  const tools = vm.spec.tools;
  const toolsStatus = !tools.installed ? 'toolsNotInstalled' : vm.toolsRunning ? 'toolsOk' : 'toolsNotRunning';
  const running = vm.toolsRunning ? 'guestToolsRunning' : 'guestToolsNotRunning';
  const ip = vm.ipAddress;
  const ps = vm.power === 'on' ? 'poweredOn' : vm.power === 'off' ? 'poweredOff' : 'suspended';
  return `Listsummary:
(vim.vm.Summary) {
   vm = 'vim.VirtualMachine:${vm.vmid}',
   runtime = (vim.vm.RuntimeInfo) {
      device = (vim.vm.DeviceRuntimeInfo) [],
      host = 'vim.HostSystem:ha-host',
      connectionState = "connected",
      powerState = "${ps}",
      faultToleranceState = "notConfigured",
      toolsInstallerMounted = false,
      suspendInterval = 0,
      consolidationNeeded = ${vm.consolidationNeeded},
      numMksConnections = 0,
   },
   guest = (vim.vm.Summary.GuestSummary) {
      guestId = ${q(vm.spec.guestOS)},
      guestFullName = ${q(GUEST_NAMES[vm.spec.guestOS] ?? vm.spec.guestOS)},
      toolsStatus = "${toolsStatus}",
      toolsVersionStatus = "${tools.installed ? 'guestToolsCurrent' : 'guestToolsNotInstalled'}",
      toolsVersionStatus2 = "${tools.installed ? 'guestToolsCurrent' : 'guestToolsNotInstalled'}",
      toolsRunningStatus = "${running}",
      hostName = ${vm.toolsRunning ? q(vm.name.replace(/[^A-Za-z0-9-]/g, '')) : '<unset>'},
      ipAddress = ${ip ? q(ip) : '<unset>'},
   },
   config = (vim.vm.Summary.ConfigSummary) {
      name = ${q(vm.name)},
      template = false,
      vmPathName = ${q(host.vfs.bracketPath(vm.state.vmxPath))},
      memorySizeMB = 1024,
      cpuReservation = 0,
      memoryReservation = 0,
      numCpu = 1,
      numEthernetCards = 1,
      numVirtualDisks = ${vm.spec.disks.length},
      uuid = "${apiUuid(cfg.get('uuid.bios') ?? '')}",
      instanceUuid = "${apiUuid(cfg.get('vc.uuid') ?? '')}",
      guestId = ${q(vm.spec.guestOS)},
      guestFullName = ${q(GUEST_NAMES[vm.spec.guestOS] ?? vm.spec.guestOS)},
      annotation = ${q(vm.spec.annotation)},
      product = (vim.vApp.ProductInfo) null,
      installBootRequired = false,
      ftInfo = (vim.vm.FaultToleranceConfigInfo) null,
   },
   storage = (vim.vm.Summary.StorageSummary) {
      committed = 0,
      uncommitted = 0,
      unshared = 0,
   },
   overallStatus = "green",
}
`;
}

function stampOf(createdAt: number): string {
  const when = new Date(createdAt);
  return `${when.getUTCMonth() + 1}/${when.getUTCDate()}/${when.getUTCFullYear()} ${String(when.getUTCHours()).padStart(2, '0')}:${String(when.getUTCMinutes()).padStart(2, '0')}:${String(when.getUTCSeconds()).padStart(2, '0')}`;
}

/** The tree depth-first from each root, children in creation order, as snapshot.get prints it. */
function treeOrder(vm: SimVm): Array<{ snap: SnapshotRecord; depth: number }> {
  const out: Array<{ snap: SnapshotRecord; depth: number }> = [];
  const visit = (parent: number, depth: number) => {
    for (const s of vm.snapshots.filter((x) => (x.parent ?? 0) === parent)) {
      out.push({ snap: s, depth });
      visit(s.uid, depth + 1);
    }
  };
  visit(0, 0);
  return out;
}

function snapshotTree(vm: SimVm): string {
  const lines = ['Get Snapshot:'];
  for (const { snap: s, depth } of treeOrder(vm)) {
    const d = '--'.repeat(depth + 1);
    lines.push(`${'--'.repeat(depth)}|-${depth === 0 ? 'ROOT' : 'CHILD'}`);
    lines.push(`${d}Snapshot Name        : ${s.name}`);
    lines.push(`${d}Snapshot Id          : ${s.uid}`);
    lines.push(`${d}Snapshot Desciption  : ${s.description}`);
    lines.push(`${d}Snapshot Created On  : ${stampOf(s.createdAt)}`);
    lines.push(`${d}Snapshot State       : ${s.powerState === 'on' ? 'powered on' : s.powerState === 'off' ? 'powered off' : 'suspended'}`);
  }
  return lines.join('\n') + '\n';
}

/** `get.snapshotinfo`: the API's SnapshotInfo, with the current snapshot and the tree of SnapshotTree objects. */
function snapshotInfo(vm: SimVm): string {
  const ref = (uid: number) => `'vim.vm.Snapshot:${vm.vmid}-snapshot-${uid}'`;
  const tree = (parent: number, indent: string): string[] => {
    const kids = vm.snapshots.filter((x) => (x.parent ?? 0) === parent);
    return kids.map((s, k) => {
      const i = `${indent}   `;
      const children = tree(s.uid, `${i}   `);
      return [
        `${indent}(vim.vm.SnapshotTree) {`,
        `${i}snapshot = ${ref(s.uid)},`,
        `${i}vm = 'vim.VirtualMachine:${vm.vmid}',`,
        `${i}name = ${q(s.name)},`,
        `${i}description = ${q(s.description)},`,
        `${i}id = ${s.uid},`,
        `${i}createTime = "${new Date(s.createdAt).toISOString()}",`,
        `${i}state = "${s.powerState === 'on' ? 'poweredOn' : s.powerState === 'off' ? 'poweredOff' : 'suspended'}",`,
        `${i}quiesced = ${s.quiesced},`,
        `${i}backupManifest = <unset>,`,
        children.length ? `${i}childSnapshotList = (vim.vm.SnapshotTree) [\n${children.join('\n')}\n${i}],` : `${i}childSnapshotList = (vim.vm.SnapshotTree) [],`,
        `${i}replaySupported = false,`,
        `${indent}}${k < kids.length - 1 ? ',' : ''}`,
      ].join('\n');
    });
  };
  if (vm.snapshots.length === 0) return '(vim.vm.SnapshotInfo) null\n';
  const current = vm.currentSnapshot;
  return [
    '(vim.vm.SnapshotInfo) {',
    `   currentSnapshot = ${current ? ref(current) : '<unset>'},`,
    '   rootSnapshotList = (vim.vm.SnapshotTree) [',
    ...tree(0, '      '),
    '   ]',
    '}',
    '',
  ].join('\n');
}

const bool01 = (v: string | undefined) => v === '1' || v === 'true';

export function vimCmd(host: SimHost): CommandImpl {
  return async ({ argv, stdout, stderr }) => {
    const [, op, ...args] = argv;
    const need = async (n: number, usage: string) => {
      if (args.length < n) {
        await out(stderr, `Insufficient arguments.\nUsage: ${op} ${usage}\n`);
        return false;
      }
      return true;
    };
    try {
      switch (op) {
        case 'vmsvc/getallvms':
          await out(stdout, getAllVms(host));
          return 0;
        case 'vmsvc/power.getstate':
          if (!(await need(1, 'vmid'))) return 1;
          await out(stdout, `Retrieved runtime info\n${powerText(host.byVmid(args[0]!))}\n`);
          return 0;
        case 'vmsvc/power.on':
          if (!(await need(1, 'vmid'))) return 1;
          await out(stdout, 'Powering on VM:\n');
          host.byVmid(args[0]!).powerOn();
          return 0;
        case 'vmsvc/power.off':
          if (!(await need(1, 'vmid'))) return 1;
          await out(stdout, 'Powering off VM:\n');
          host.byVmid(args[0]!).powerOff('hard');
          return 0;
        case 'vmsvc/power.shutdown':
          if (!(await need(1, 'vmid'))) return 1;
          // Not a hostd task: it answers once the guest was told; the guest powers off in its own time.
          host.byVmid(args[0]!).requestShutdown(host.timing.guestShutdownMs);
          return 0;
        case 'vmsvc/get.summary':
          if (!(await need(1, 'vmid'))) return 1;
          await out(stdout, summary(host, host.byVmid(args[0]!)));
          return 0;
        case 'vmsvc/snapshot.get':
          if (!(await need(1, 'vmid'))) return 1;
          await out(stdout, snapshotTree(host.byVmid(args[0]!)));
          return 0;
        case 'vmsvc/snapshot.create': {
          if (!(await need(1, 'vmid [snapshotName] [snapshotDescription] [includeMemory] [quiesced]'))) return 1;
          const vm = host.byVmid(args[0]!);
          await out(stdout, 'Create Snapshot:\n');
          await vm.createSnapshot({
            name: args[1] ?? 'unnamed',
            description: args[2] ?? '',
            memory: bool01(args[3]),
            quiesce: bool01(args[4]),
          });
          return 0;
        }
        case 'vmsvc/snapshot.remove': {
          if (!(await need(1, 'vmid [snapshotId]'))) return 1;
          const vm = host.byVmid(args[0]!);
          await out(stdout, 'Remove Snapshot:\n');
          const id = args[1];
          if (id === undefined) {
            const current = vm.currentSnapshot;
            if (!current) throw new HostFault('vim.fault.NotFound', 'The object or item referred to could not be found.');
            vm.removeSnapshot(current);
          } else vm.removeSnapshot(Number(id));
          return 0;
        }
        case 'vmsvc/snapshot.revert': {
          if (!(await need(2, 'vmid snapshotId suppressPowerOn'))) return 1;
          const vm = host.byVmid(args[0]!);
          await out(stdout, 'Revert Snapshot:\n');
          vm.revertToSnapshot(Number(args[1]), bool01(args[2]));
          return 0;
        }
        case 'vmsvc/snapshot.consolidate':
          if (!(await need(1, 'vmid'))) return 1;
          host.byVmid(args[0]!).consolidateDisks();
          return 0;
        case 'vmsvc/get.snapshotinfo':
          if (!(await need(1, 'vmid'))) return 1;
          await out(stdout, snapshotInfo(host.byVmid(args[0]!)));
          return 0;
        case 'vmsvc/snapshot.removeall':
          if (!(await need(1, 'vmid'))) return 1;
          await out(stdout, 'Remove All Snapshots:\n');
          host.byVmid(args[0]!).removeAllSnapshots();
          return 0;
        case 'solo/registervm':
          if (!(await need(1, 'vmx path [name] [resourcepool]'))) return 1;
          await out(stdout, `${host.register(args[0]!).vmid}\n`);
          return 0;
        case 'vmsvc/unregister':
          if (!(await need(1, 'vmid'))) return 1;
          host.unregister(host.byVmid(args[0]!));
          return 0;
        case undefined:
          await out(stderr, 'Commands available under /:\nhbrsvc/       internalsvc/  solo/         vmsvc/\nhostsvc/      proxysvc/     vimsvc/       help\n');
          return 1;
        default:
          await out(stderr, `Unknown command: '${op}'\n`);
          return 1;
      }
    } catch (e) {
      if (e instanceof HostFault) {
        await out(stdout, faultBlock(e));
        return 1;
      }
      throw e;
    }
  };
}
