// `vcbmounter restore` (vcbRestore's role): a fullvm export back onto a datastore as thin disks, registered, optionally powered on.

import { Option, type Command } from 'commander';
import { VcbError } from '../errors.js';
import type { HandledSignal } from '../engine/index.js';
import { installCommandSignals } from './command-signals.js';
import { connectionInput, passwordFromFlags } from './connection-input.js';
import { restoreOptionsSchema, type RestoreOptions } from '../workflow/restore-options.js';
import { hostFlags } from '../workflow/host-flags.js';
import { restoreDryRun, runRestore, type RestoreResult } from '../jobs/restore.js';
import { drillConflict } from '../restore/drill.js';
import { withConnectionOptions } from './flags.js';
import { connectRetriesFlag, seconds } from './numeric-flags.js';
import { progressRenderer } from './progress.js';
import { startCommandLog, type CommandOutcome } from './host-command.js';
import { isSimHost } from './sim-host.js';
import type { CliIO } from './io.js';

const EXAMPLES = `
Examples:
  vcbmounter restore -s /backup/web01 -h esx01 -u root --password-file /root/.esxpass --name web01-copy
                                     a copy next to the original (new BIOS uuid and MAC: uuid.action = "create")
  vcbmounter restore -s /backup/web01 -h esx01 -u root -p - -b overwrite --power-on
                                     put web01 back in place of a powered-off web01 (same identity: "keep")
  vcbmounter restore -s /backup/web01 -h esx02 -u root -i ~/.ssh/id_ed25519 --datastore ds2 -b rename
                                     another host and datastore; if web01 is registered there, web01-restored-1
  vcbmounter restore -s /backup/web01 --catalog /tmp/web01.catalog -h esx01 -u root -p -
                                     an edited copy of the catalog redirects it (vm.name, vm.vmxDatastorePath)
  vcbmounter restore -s /backup/web01 -h esx01 -u root -p - --drill
                                     proof that the backup boots: restored as web01-drill-<time> (network cards
                                     disconnected), powered on until VMware Tools report a heartbeat, then removed
  vcbmounter restore -s /backup/web01 -h esx01 --dry-run      the steps, contacting nothing

Only the disks' allocated blocks are sent (the export's block list), into thin disks. The target must have
room for them first (vmkfstools -P); a failure or interrupt unregisters the VM and removes everything uploaded.
Exit codes: 0 restored; 2 bad flags or a damaged/unknown export or catalog; 3 cannot connect; 6 the datastore
has not enough free space (nothing written), or filled up during the upload (everything removed); 7 the target
is taken (a VM of that name with -b fail, a powered-on VM with -b overwrite, an existing folder); 1 a host
command failed (everything removed); 8 something could not be removed: run "vcbmounter cleanup"; 130/143
interrupted (everything removed). --drill: 0 the guest reported a heartbeat (the drill VM is removed); 16 it
never did within --drill-timeout; 6 the host refused the power-on; whatever the outcome the drill VM is
powered off, unregistered and deleted (else 8).
`;

function drillSummary(r: RestoreResult, d: NonNullable<RestoreResult['drill']>): string {
  const lines = [
    `drill passed: ${r.vm.name} booted from the backup in ${r.source}`,
    `  VMware Tools reported a heartbeat ${(d.heartbeatAfterMs / 1000).toFixed(1)} s after the power-on (${d.evidence})`,
    `  restored to ${r.vm.vmx}, sent ${(r.bytesSent / 1024 / 1024).toFixed(1)} MiB; ${d.removed ? 'then powered off, unregistered and deleted' : 'NOT removed'}`,
    ...r.warnings.map((w) => `  warning: ${w}`),
  ];
  return `${lines.join('\n')}\n`;
}

function summary(r: RestoreResult): string {
  if (r.drill) return drillSummary(r, r.drill);
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  const lines = [
    `restored ${r.vm.name} as ${r.vm.vmx} (id ${r.vm.id})${r.replaced ? `, replacing the powered-off ${r.replaced}` : ''}`,
    `  disks: ${r.disks.map((d) => `${d.slot} ${mib(d.capacity)} thin, ${d.blocks} blocks`).join('; ')}`,
    `  sent ${mib(r.bytesSent)} of allocated blocks; uuid.action = "${r.uuidAction}" (${r.uuidAction === 'keep' ? 'moved: same identity' : 'copied: new BIOS uuid and MAC'})`,
    `  ${r.poweredOn ? 'powered on' : 'powered off (use --power-on to start it)'}`,
    ...r.warnings.map((w) => `  warning: ${w}`),
  ];
  return `${lines.join('\n')}\n`;
}

async function restoreAction(flags: Record<string, unknown>, io: CliIO, outcome: CommandOutcome & { interruptedBy?: HandledSignal }): Promise<void> {
  const log = startCommandLog({ ...flags, logLevel: flags.logLevel ?? 3 }, outcome);
  const missing = [!flags.source && '-s DIR', !flags.host && '-h HOST'].filter(Boolean);
  if (missing.length) throw new VcbError('USAGE', `restore: missing ${missing.join(', ')} (see vcbmounter restore --help)`);
  if (isSimHost(String(flags.host)) && !flags.dryRun) {
    throw new VcbError('USAGE', 'restore -h sim: the embedded simulated host lives only as long as this command; start it with `vcbmounter sim` in another terminal and point -h, --port and --host-key at what it prints');
  }
  const password = flags.dryRun ? undefined : await passwordFromFlags(flags);
  const parsed = restoreOptionsSchema.safeParse({
    ...connectionInput(flags, password),
    source: flags.source,
    catalogFile: flags.catalog,
    datastore: flags.datastore,
    name: flags.name,
    folder: flags.folder,
    policy: flags.policy,
    powerOn: Boolean(flags.powerOn),
    drill: Boolean(flags.drill),
    drillTimeoutMs: seconds(flags.drillTimeout, '--drill-timeout'),
    dryRun: Boolean(flags.dryRun),
    stateDir: flags.stateDir,
    cleanupTimeoutMs: seconds(flags.cleanupTimeout, '--cleanup-timeout'),
    commandTimeoutMs: seconds(flags.commandTimeout, '--command-timeout'),
    connectRetries: connectRetriesFlag(flags.connectRetries),
  });
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new VcbError('USAGE', `restore ${String(i.path[0] ?? '')}: ${i.message}`);
  }
  const o: RestoreOptions = parsed.data;
  const conflict = drillConflict(o);
  if (conflict) throw new VcbError('USAGE', `restore ${conflict}`);
  if (o.dryRun) {
    io.stdout.write(restoreDryRun(o).join('\n') + '\n');
    return;
  }
  const handlers = installCommandSignals(io, { release: `vcbmounter cleanup -h ${hostFlags(o)} ...` });
  const progress = progressRenderer(io.stderr, !flags.json && !flags.logFile);
  try {
    const result = await runRestore(o, { log, signal: handlers.signal, onProgress: progress.update, onHolding: handlers.holding });
    progress.done();
    io.stdout.write(flags.json ? JSON.stringify({ ok: true, ...result }) + '\n' : summary(result));
  } finally {
    progress.done();
    outcome.interruptedBy = handlers.received;
    handlers.dispose();
  }
}

export function registerRestoreCommand(program: Command, io: CliIO, outcome: CommandOutcome & { interruptedBy?: HandledSignal }): void {
  const cmd = program
    .command('restore')
    .description("restore a fullvm export to a host (vcbRestore's role): thin disks with only the allocated blocks, the .vmx made right, registered; undone entirely on failure")
    .helpOption('--help')
    .addHelpText('after', EXAMPLES);
  withConnectionOptions(cmd, 'ESX/ESXi host to restore to')
    .option('-s, --source <dir>', 'the fullvm export directory (made by vcbmounter -t fullvm)')
    .option('--catalog <file>', "an edited copy of the export's catalog: its vm.name and vm.vmxDatastorePath redirect the restore")
    .option('--datastore <name>', "datastore to restore to (default: the catalog's)")
    .option('--name <name>', "the restored VM's display name (default: the catalog's); its files and folder are named after it")
    .option('--folder <path>', 'directory on the datastore (default: the original folder under the original name, else the new name)')
    .addOption(new Option('-b, --policy <policy>', 'if a VM of that name is registered: fail, overwrite (only a powered-off VM: unregistered and replaced), rename (NAME-restored-N)').choices(['fail', 'overwrite', 'rename']).default('fail'))
    .option('--power-on', 'power the VM on once registered')
    .option('--drill', 'prove the backup boots: restore under a temporary name (NAME-drill-TIME, network cards disconnected), power on, wait for a VMware Tools heartbeat, then power off, unregister and delete it')
    .addOption(new Option('--drill-timeout <seconds>', 'with --drill: how long to wait for the heartbeat after the power-on (exit 16 when none came)').default('600', '600 s'))
    .option('--accept-new-host-key', 'record an unknown host key in known_hosts (a changed key is still refused)')
    .addOption(new Option('--command-set <set>', 'host commands to use (auto: detect them)').choices(['auto', 'vim-cmd', 'vmware-cmd']).default('auto'))
    .option('--state-dir <dir>', 'journals (default as for a backup): `vcbmounter cleanup` finds an interrupted restore there')
    .addOption(new Option('--cleanup-timeout <seconds>', 'bound on undoing a failed restore').default('300', '300 s'))
    .addOption(new Option('--command-timeout <seconds>', 'give up on a host command that sends nothing for this long').default('300', '300 s'))
    .option('--json', 'print a JSON summary on stdout (and JSON logs)')
    .option('-L, --log-level <0-6>', 'log verbosity', '3')
    .option('--log-file <file>', 'write logs to this file instead of stderr')
    .option('--dry-run', 'print the steps a restore would take and exit; contacts nothing')
    .action(async (flags: Record<string, unknown>) => restoreAction(flags, io, outcome));
}
