// The command line's flags: the backup's (shared by the plain command and `pre`), the connection's (shared with -U, post, cleanup), and how a bad one is named.

import { Command, Option } from 'commander';
import { VcbError } from '../errors.js';

export function parseLunMap(values: string[] | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  for (const v of values ?? []) {
    const i = v.indexOf('=');
    const key = v.slice(0, i);
    if (i <= 0 || i === v.length - 1 || !/^[^:=]+(:[1-9]\d*)?$/.test(key)) {
      throw new VcbError('USAGE', `--lun "${v}": expected LVID[:EXTENT]=PATH[@OFFSET] (LVID or volume uuid as vmkfstools -t0 prints it; EXTENT the LUN's number in a datastore spanning several, default 1; PATH a device or image; OFFSET the VMFS partition's first byte on PATH, found from its partition table when absent)`);
    }
    map[key] = v.slice(i + 1);
  }
  return map;
}

/** The command-line flag a backup option comes from, for usage errors (the schema knows option names only). */
const FLAG_OF_OPTION: Record<string, string> = { hookTimeoutMs: '--hook-timeout', selector: '-a', dir: '-r', lunMap: '--lun', monolithic: '-M', identityFile: '-i', snapshotTimeoutMs: '--snapshot-timeout', cleanupTimeoutMs: '--cleanup-timeout', commandTimeoutMs: '--command-timeout', agentTimeoutMs: '--agent-timeout', excludeDisks: '--exclude-disk', shutdownTimeoutMs: '--shutdown-timeout' };

export function flagOf(option: string): string {
  return FLAG_OF_OPTION[option] ?? `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}


/** The flags that say how to reach and log in to a host, shared by the backup and `cleanup`. */
export function withConnectionOptions(cmd: Command, hostHelp: string): Command {
  return cmd
    .option('-h, --host <host>', hostHelp)
    .option('--port <port>', 'SSH port', (v) => Number(v), 22)
    .option('-u, --user <user>', 'user on the host', 'root')
    .option('-p, --password <password>', 'password ("-" reads it from stdin); prefer --password-file or $VCBMOUNTER_PASSWORD')
    .option('--password-file <file>', 'read the password from a file that only its owner can read')
    .option('-i, --identity <keyfile>', 'SSH private key for public-key authentication')
    .option('--host-key <fingerprint>', 'pin the host key: SHA256:... as ssh-keygen -lf prints it')
    .option('--known-hosts <file>', 'OpenSSH known_hosts file to check the host key against (default ~/.ssh/known_hosts)')
    .addOption(new Option('--connect-retries <n>', 'connect again this many times, waiting 3 s, 6 s, ..., when the network or sshd failed the connection (never after a refused login)').default('2'));
}


/** The flags of a backup, shared by the plain command line and `pre`. */
export function withBackupOptions(cmd: Command): Command {
  return withConnectionOptions(cmd, 'ESX/ESXi host (or "sim" for the embedded simulated host)')
    .option('--accept-new-host-key', 'record an unknown host key in known_hosts (a changed key is still refused)')
    .option('-a, --vm <selector>', 'which VM: name:<display name> | ipaddr:<ip> | uuid:<BIOS uuid> | moref:<vmid>')
    .option('-r, --dir <dir>', 'export directory to create (must not exist)')
    .addOption(new Option('-t, --type <type>', 'fullvm: image of every disk in -r; file: the guest volumes mounted read-only under -r until -U').choices(['fullvm', 'file']).default('fullvm'))
    .addOption(new Option('-m, --mode <mode>', 'transport: nbd/nbdssl read through the host over SSH, san reads the LUN directly (hotadd: refused: this proxy reaches the host over SSH)').choices(['san', 'nbd', 'nbdssl', 'hotadd']).default('nbd'))
    .addOption(new Option('-M, --monolithic <0|1>', '1: one flat file per disk; 0: split into 2 GiB extents').choices(['0', '1']).default('1'))
    .option('-L, --log-level <0-6>', 'log verbosity: 0 fatal only ... 6 every remote command', '3')
    .option('--lun <lvid=path...>', 'for -m san: where a datastore LUN is on this proxy, as LVID[:EXTENT]=PATH[@OFFSET] (repeatable; see docs/usage.md)')
    .addOption(new Option('--preexisting-mountpoint <policy>', 'if -r exists').choices(['fail', 'delete']).default('fail'))
    .addOption(new Option('--preexisting-snapshot <policy>', 'if the VM already has a _VCB-BACKUP_ snapshot').choices(['fail', 'delete']).default('fail'))
    .option('--require-quiesce', 'fail instead of taking a crash-consistent snapshot when the guest cannot be quiesced')
    .option('--no-quiesce', 'take a crash-consistent snapshot without asking VMware Tools to quiesce')
    .addOption(new Option('--command-set <set>', 'host commands to use (auto: detect them)').choices(['auto', 'vim-cmd', 'vmware-cmd']).default('auto'))
    .option('--state-dir <dir>', 'locks and journals (default $XDG_STATE_HOME/vcbmounter, else ~/.local/state/vcbmounter)')
    .addOption(new Option('--snapshot-timeout <seconds>', 'give up on a snapshot create/remove after this long (a quiesce can hang)').default('900', '900 s'))
    .addOption(new Option('--cleanup-timeout <seconds>', 'bound on releasing everything after a failure or interrupt').default('300', '300 s'))
    .addOption(new Option('--command-timeout <seconds>', 'give up on any other host command that sends nothing for this long').default('300', '300 s'))
    .option('--json', 'print a JSON summary on stdout (and JSON logs)')
    .option('--log-file <file>', 'write logs to this file instead of stderr')
    .option('--dry-run', 'print the steps a backup would take and exit; contacts nothing')
    .option('--agent <command>', 'run this backup program on the ready export or mount, then release everything; {dir} {vm} {type} {host} {time} {runid} are filled in (also as $VCB_DIR, $VCB_VM, ...); run without a shell')
    .option('--agent-shell', 'run --agent\'s text with sh -c (pipes, redirections); placeholders are quoted for it')
    .addOption(new Option('--agent-preset <program>', 'hand the export or mount to restic or borg with settings for disk images, tagged (restic) or named (borg) after the VM and the snapshot time; repository and password from RESTIC_*/BORG_* in the environment').choices(['restic', 'borg']))
    .option('--stream', 'with --agent or --agent-preset, -t fullvm: send the export into the agent\'s stdin as one tar (VM.tar), writing nothing on this proxy; no -r')
    .addOption(new Option('--agent-timeout <seconds>', 'kill the agent (SIGTERM, SIGKILL 10 s later) after this long').default('43200', '12 h'))
    .option('--hook <script>', 'run SCRIPT PHASE at job-start, backup-start, pre-snapshot, post-snapshot, backup-end or backup-abort, job-end ($VCB_PHASE, $VCB_VM, $VCB_DIR, $VCB_STATUS, ...); a failure stops the backup (exit 11)')
    .addOption(new Option('--hook-timeout <seconds>', 'kill the hook (SIGTERM, SIGKILL 10 s later) after this long').default('3600', '1 h'))
    .option('--exclude-disk <slot>', 'leave this disk out, by its controller slot as the .vmx and the catalog name it (scsi0:1); repeatable; a slot the VM does not have is an error', collect, [])
    .option('--cold', 'cold backup: shut the guest down cleanly (VMware Tools), take the snapshot, power the VM on again at once, then copy; a VM that is off stays off')
    .addOption(new Option('--shutdown-timeout <seconds>', 'with --cold: how long the clean guest shutdown may take').default('600', '600 s'))
    .option('--hard-power-off', 'with --cold: power the VM off hard when the clean shutdown times out or the VM has no running VMware Tools (without it such a run fails and the VM stays on)');
}

/** Commander's way to gather a repeatable flag's values. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
