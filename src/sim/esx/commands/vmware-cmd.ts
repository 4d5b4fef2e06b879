// `vmware-cmd` of the simulated ESX 3.x service console: `op(args) = value` output, VMControl errors.

import type { CommandImpl } from '../../shell/types.js';
import type { SimHost } from '../host.js';
import { HostFault } from '../vm-state.js';
import { out } from './io.js';

const USAGE = `Usage: vmware-cmd <options> <vm-cfg-path> <vm-action> <arguments>
       vmware-cmd -s <options> <server-action> <arguments>
  Options:
    -l  list the registered VMs
    -q  quiet: print only the result
`;

export function vmwareCmd(host: SimHost): CommandImpl {
  return async ({ argv, stdout, stderr, signal }) => {
    let args = argv.slice(1);
    let quiet = false;
    if (args[0] === '-q') {
      quiet = true;
      args = args.slice(1);
    }
    const result = (op: string, opArgs: string, value: string | number) =>
      out(stdout, quiet ? `${value}\n` : `${op}(${opArgs}) = ${value}\n`);
    try {
      if (args[0] === '-l') {
        await out(stdout, host.vms().map((v) => v.state.vmxPath).join('\n') + (host.vms().length ? '\n' : ''));
        return 0;
      }
      if (args[0] === '-s') {
        const [, action, vmx] = args;
        if (!vmx || (action !== 'register' && action !== 'unregister')) {
          await out(stderr, USAGE);
          return 1;
        }
        if (action === 'register') host.register(vmx);
        else host.unregister(host.byVmx(vmx));
        await result(action, vmx, 1);
        return 0;
      }
      const [vmx, op, ...rest] = args;
      if (!vmx || !op) {
        await out(stderr, USAGE);
        return 1;
      }
      const vm = host.byVmx(vmx);
      switch (op) {
        case 'getstate':
          await result('getstate', '', vm.power);
          return 0;
        case 'start':
          vm.powerOn();
          await result('start', '', 1);
          return 0;
        case 'stop': {
          const mode = rest[0] ?? 'soft';
          const soft = mode === 'soft' || (mode === 'trysoft' && vm.toolsRunning);
          if (soft) {
            // vmware-cmd waits for the guest to finish shutting down; a client that gives up does not stop the guest.
            vm.requestShutdown(host.timing.guestShutdownMs);
            try {
              await vm.shutdownEnded(signal);
            } catch {
              return 129;
            }
          } else vm.powerOff('hard');
          await result('stop', mode, 1);
          return 0;
        }
        case 'createsnapshot': {
          const [name = 'snapshot', description = '', quiesce = '0', memory = '0'] = rest;
          await vm.createSnapshot({ name, description, quiesce: quiesce === '1', memory: memory === '1' });
          await result('createsnapshot', `${name} ${description}`, 1);
          return 0;
        }
        case 'hassnapshot':
          await result('hassnapshot', '', vm.snapshots.length ? 1 : 0);
          return 0;
        case 'revertsnapshot': {
          // ESX 3.x reverts to the current snapshot (it has no snapshot ids).
          const current = vm.currentSnapshot;
          if (!current) throw new HostFault('vim.fault.NotFound', 'The virtual machine has no snapshot to revert to.', -1);
          vm.revertToSnapshot(current);
          await result('revertsnapshot', '', 1);
          return 0;
        }
        case 'removesnapshots':
          vm.removeAllSnapshots();
          await result('removesnapshots', '', 1);
          return 0;
        case 'getconfig': {
          const key = rest[0] ?? '';
          await result('getconfig', key, vm.config().get(key) ?? '');
          return 0;
        }
        case 'getconfigfile':
          await result('getconfigfile', '', vm.state.vmxPath);
          return 0;
        // VMware Tools' heartbeat count since the power-on (0 until they run); seconds since the last one (0 until the first).
        case 'getheartbeat':
          await result('getheartbeat', '', vm.heartbeat);
          return 0;
        case 'gettoolslastactive':
          await result('gettoolslastactive', '', vm.heartbeat > 0 ? 1 : 0);
          return 0;
        case 'getuptime':
          await result('getuptime', '', vm.power === 'on' ? 3600 : 0);
          return 0;
        default:
          await out(stderr, `VMControl error -2: Invalid argument: Unknown operation: ${op}\n`);
          return 2;
      }
    } catch (e) {
      if (e instanceof HostFault) {
        const code = Math.abs(e.vmcontrolCode) || 1;
        const what = e.vmcontrolCode === -11 ? 'No such virtual machine' : e.vmcontrolCode === -8 ? "Invalid operation for virtual machine's current state" : 'Operation failed';
        await out(stderr, `VMControl error ${e.vmcontrolCode}: ${what}: ${e.message}\n`);
        return code;
      }
      throw e;
    }
  };
}
