// `vcbmounter list` (vcbVmName's role): the host's VMs with name, moref, uuid, power, IP and datastores, as a table or JSON.

import type { Command } from 'commander';
import type { CliIO } from './io.js';
import { cell, formatTable, startCommandLog, withScriptCommandOptions, withSession, type CommandOutcome } from './host-command.js';
import { listVmDetails, type VmListing } from '../workflow/vm-listing.js';
import { matchesVmSelector, parseListSelector } from '../workflow/vm-match.js';

const EXAMPLES = `
Selectors (-s, repeatable: a VM is listed when it matches every one):
  any                    every VM (the default)
  name:NAME              the display name, exact and case-sensitive; *, ? and [...] match as in sh
                         (name:web* , name:'db[0-9]?' ; \\* is a literal *; a name without * ? [ is exact)
  ipaddr:IP              the address VMware Tools report (powered-off VMs and VMs without Tools have none)
  uuid:UUID              the BIOS uuid, in either form (56 4d ... or dashed)
  moref:ID               the vmid on ESXi, the .vmx path on ESX 3.x
  powerstate:on|off      running VMs, or all the others (off and suspended)

Examples:
  vcbmounter list -h esx01 -u root --password-file /etc/vcbmounter/esx01.pass
  vcbmounter list -h esx01 -u root -p - -s 'name:web*' -s powerstate:on
  vcbmounter list -h esx01 -u root -i ~/.ssh/id_ed25519 --json | jq -r '.[].name'
  vcbmounter list -h esx01 -u root -p - -s uuid:564d0a0b-0c0d-0e0f-1011-121314151617 --json

The table is for people (a name with control characters is shown JSON-quoted); scripts read --json:
an array of {name, moref, uuid, power, ip, datastore, datastores}, uuid and ip absent when unknown.
datastores is the .vmx's datastore first, then any other one a disk of the .vmx is on.
Exit codes: 0 listed (also when nothing matched: the output is then an empty table or []), 2 bad
flags or selector, 3 cannot connect, 1 a host command failed.
`;

/** The JSON each VM is printed as (the listing without the host's internal reference). */
export function listingJson(vm: VmListing): Record<string, unknown> {
  return {
    name: vm.name,
    moref: vm.moref,
    ...(vm.uuid !== undefined ? { uuid: vm.uuid } : {}),
    power: vm.power,
    ...(vm.ip !== undefined ? { ip: vm.ip } : {}),
    datastore: vm.datastore,
    datastores: vm.datastores ?? [vm.datastore],
  };
}

function table(vms: VmListing[]): string {
  return formatTable(
    ['NAME', 'MOREF', 'UUID', 'POWER', 'IP', 'DATASTORES'],
    vms.map((v) => [cell(v.name), cell(v.moref), v.uuid ?? '-', v.power, v.ip ?? '-', (v.datastores ?? [v.datastore]).map(cell).join(',')]),
  );
}

async function listAction(flags: Record<string, unknown>, io: CliIO, outcome: CommandOutcome): Promise<void> {
  // Selectors are checked before anything is contacted.
  const selectors = ((flags.select as string[] | undefined) ?? []).map((s) => parseListSelector(s, '-s'));
  const log = startCommandLog(flags, outcome);
  const vms = await withSession(flags, log, 'list', (session) => listVmDetails(session.esx, { datastores: true }));
  const shown = vms.filter((vm) => selectors.every((s) => matchesVmSelector(vm, s)));
  io.stdout.write(flags.json ? JSON.stringify(shown.map(listingJson), null, 2) + '\n' : table(shown));
}

export function registerListCommand(program: Command, io: CliIO, outcome: CommandOutcome): void {
  const cmd = program
    .command('list')
    .description("list the host's VMs: name, moref, BIOS uuid, power state, IP address, datastores (vcbVmName's role)")
    .addHelpText('after', EXAMPLES);
  withScriptCommandOptions(cmd, 'ESX/ESXi host')
    .option('-s, --select <selector...>', 'which VMs: any | name:NAME-or-GLOB | ipaddr:IP | uuid:UUID | moref:ID | powerstate:on|off (repeatable: all must match)')
    .action(async (flags: Record<string, unknown>) => listAction(flags, io, outcome));
}
