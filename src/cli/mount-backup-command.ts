// `vcbmounter mount-backup DIR MOUNTPOINT`: the guest volumes of a fullvm backup mounted read-only on this proxy, for restoring single files; -U MOUNTPOINT takes them down.

import { Option, type Command } from 'commander';
import type { HandledSignal } from '../engine/index.js';
import { installCommandSignals } from './command-signals.js';
import { mountBackupDryRun, runMountBackup, type MountBackupResult } from '../jobs/mount-backup.js';
import type { MountBackupOptions } from '../steps/mount-backup-step.js';
import { seconds } from './numeric-flags.js';
import { startCommandLog, type CommandOutcome } from './host-command.js';
import type { CliIO } from './io.js';

const EXAMPLES = `
Examples:
  vcbmounter mount-backup /backup/web01 /mnt/web01-backup      the backup's volumes under /mnt/web01-backup
  cp -a /mnt/web01-backup/names/root/etc/nginx /tmp/            ... one file or directory restored from them
  vcbmounter -U /mnt/web01-backup                               unmounted (the backup is left as it was)

The backup is only read: every disk file is opened read-only and every volume mounted read-only. While it is
mounted, retention, --preexisting-mountpoint delete and -U of the backup refuse to delete it (same --state-dir).
Exit codes: 0 mounted; 2 DIR is not a fullvm backup made by vcbmounter; 5 it is mounted already; 7 MOUNTPOINT
exists and is not an empty directory; 9 this proxy cannot mount (not root, no FUSE or loop devices, a program
missing) or no volume could be mounted; 8 something could not be released (run -U MOUNTPOINT); 130/143 interrupted
(nothing left mounted).
`;

function summary(r: MountBackupResult): string {
  const lines = [`guest volumes of ${r.vm.name} from the backup ${r.backup} (taken ${r.backupTime}, ${r.quiesced ? 'quiesced' : 'crash-consistent'}) mounted read-only under ${r.dir}; take them down with: vcbmounter -U ${r.dir}`];
  for (const v of r.volumes) {
    const what = `${v.device} partition ${v.partition} ${v.fileSystem}${v.label ? ` "${v.label}"` : ''}`;
    lines.push(v.paths.length ? `  ${v.paths.join(', ')}: ${what}` : `  not mounted: ${what}: ${v.notMounted}`);
  }
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n') + '\n';
}

async function mountBackupAction(backup: string, mountPoint: string, flags: Record<string, unknown>, io: CliIO, outcome: CommandOutcome & { interruptedBy?: HandledSignal }): Promise<void> {
  const log = startCommandLog({ ...flags, logLevel: flags.logLevel ?? 3 }, outcome);
  const o: MountBackupOptions = { backup, mountPoint, stateDir: flags.stateDir as string | undefined, cleanupTimeoutMs: seconds(flags.cleanupTimeout, '--cleanup-timeout') };
  if (flags.dryRun) {
    io.stdout.write(mountBackupDryRun(o).join('\n') + '\n');
    return;
  }
  const handlers = installCommandSignals(io, { release: `vcbmounter -U ${mountPoint}` });
  try {
    const result = await runMountBackup(o, { log, signal: handlers.signal, onHolding: handlers.holding });
    io.stdout.write(flags.json ? JSON.stringify({ ok: true, ...result }) + '\n' : summary(result));
  } finally {
    outcome.interruptedBy = handlers.received;
    handlers.dispose();
  }
}

export function registerMountBackupCommand(program: Command, io: CliIO, outcome: CommandOutcome & { interruptedBy?: HandledSignal }): void {
  program
    .command('mount-backup')
    .description('mount the guest volumes of a fullvm backup read-only (as -t file mounts a snapshot\'s), to restore single files; -U MOUNTPOINT takes them down')
    .argument('<dir>', 'the fullvm backup directory (made by vcbmounter -t fullvm)')
    .argument('<mountpoint>', 'a new or empty directory: the volumes go under its letters/, digits/ and names/')
    .option('--state-dir <dir>', 'journals and locks (default as for a backup): where the mount is recorded, so the backup is not deleted while mounted')
    .addOption(new Option('--cleanup-timeout <seconds>', 'bound on undoing a failed mount').default('300', '300 s'))
    .option('--json', 'print a JSON summary on stdout (and JSON logs)')
    .option('-L, --log-level <0-6>', 'log verbosity', '3')
    .option('--log-file <file>', 'write logs to this file instead of stderr')
    .option('--dry-run', 'print the steps and exit; touches nothing')
    .helpOption('--help')
    .addHelpText('after', EXAMPLES)
    .action(async (dir: string, mountPoint: string, flags: Record<string, unknown>) => mountBackupAction(dir, mountPoint, flags, io, outcome));
}
