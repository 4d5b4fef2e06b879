// vcbmounter's command line: parses flags (vcbMounter-compatible), calls the workflow, maps the outcome to an exit code.

import { Option } from 'commander';
import { VcbError } from '../errors.js';
import { stateDirPath } from '../engine/index.js';
import { installCommandSignals } from './command-signals.js';
import { createLogger, type Logger } from '../log.js';
import { backupOptionsSchema, type BackupOptions } from '../workflow/options.js';
import { dryRunPlan, jobTypeFor, runJob } from '../jobs/index.js';
import { refuseBadCombinations } from '../workflow/option-rules.js';
import { runningPrograms } from '../agent/run-program.js';
import { checkHook } from '../hooks/run-hook.js';
import { withJobHooks } from '../hooks/job-hooks.js';
import { resolve as resolvePath } from 'node:path';
import { hostFlags, hostLabel } from '../workflow/host-flags.js';
import { TOOL_VERSION } from '../version.js';
import { unmountDir } from '../workflow/unmount.js';
import { EXIT, EXIT_CODES_HELP } from './exit-codes.js';
import { flagOf, parseLunMap, withBackupOptions, withConnectionOptions } from './flags.js';
import { summaryText } from './messages.js';
import { progressRenderer } from './progress.js';
import { runCleanup } from './cleanup.js';
import { lazyHostFromFlags } from './lazy-host.js';
import { connectRetriesFlag, seconds } from './numeric-flags.js';
import { isSimHost } from './sim-host.js';
import { connectionInput, passwordFromFlags } from './connection-input.js';
import { registerListCommand } from './list-command.js';
import { registerSnapshotCommand } from './snapshot-command.js';
import { registerRestoreCommand } from './restore-command.js';
import { registerVerifyCommand } from './verify-command.js';
import { registerMountBackupCommand } from './mount-backup-command.js';
import { newProgram, parseAndRun, type RunOutcome } from './program.js';

import type { CliIO } from './io.js';

const EXAMPLES = `
Examples:
  vcbmounter -h esx01 -u root -p - -a name:web01 -r /backup/web01 -t fullvm    (password on stdin)
  vcbmounter -h esx01 -u root --password-file /root/.esxpass -a ipaddr:10.1.1.107 -r /backup/vm1 -M 0 -L 6
  vcbmounter -h esx01 -u root -i ~/.ssh/id_ed25519 -a moref:12 -r /backup/web01 -m san --lun 4c60368b-f4dd67bb-034c-001a31174665=/dev/sdb
  vcbmounter -h esx01 -u root -p - -a name:db01 -r /backup/db01 --cold --exclude-disk scsi0:1
                                                       cold: shut down, snapshot, power on, then copy; without disk scsi0:1
  vcbmounter -h esx01 -u root -p - -a name:fs01 -r /mnt/fs01 -t file      mount the guest volumes read-only
  vcbmounter -U /mnt/fs01 -h esx01 -u root -p -        unmount them and remove the snapshot
  vcbmounter -U /backup/web01                          remove a backup directory made by vcbmounter
  vcbmounter -U /backup/web01 -h esx01 -u root -p -    ... and the snapshot its run could not remove
  vcbmounter -h esx01 -u root -p - -a name:web01 -r /backup/stage/web01 --agent 'restic backup --tag "vm={vm}" {dir}'
                                                       hand the export to restic (RESTIC_* from the environment)
  vcbmounter -h esx01 -u root -p - -a name:web01 -r /backup/stage/web01 --agent-preset borg
                                                       ... or to borg, ready-made for disk images (BORG_REPO, BORG_PASSCOMMAND)
  vcbmounter -h esx01 -u root -p - -a name:web01 --stream --agent-preset restic
                                                       no scratch space: the export goes into restic's stdin as web01.tar
  vcbmounter pre -h esx01 -u root --password-file F -a name:web01 -r /backup/stage/web01
                                                       for a backup program's "before job": prints the ready directory
  vcbmounter post /backup/stage/web01 -h esx01 -u root --password-file F
                                                       its "after job" (also after a failed job): releases everything
  vcbmounter cleanup -h esx01 -u root -p -             release what interrupted runs left behind
  vcbmounter restore -s /backup/web01 -h esx01 -u root -p - --name web01-copy   restore a fullvm export (see restore --help)
  vcbmounter verify /backup/web01                      read an export back against its catalog (see verify --help)
  vcbmounter mount-backup /backup/web01 /mnt/web01-backup   its guest volumes read-only, for single files; -U to unmount
  vcbmounter -h sim -a name:web01 -r ./demo-backup/web01   back up a VM of the embedded simulated host
  vcbmounter sim --port 2222                           run the simulated ESX host for other tools

Password sources, in order: -p PASS, -p - (stdin), --password-file FILE (mode 600), $VCBMOUNTER_PASSWORD.
Host keys: --host-key SHA256:... pins one; otherwise ~/.ssh/known_hosts (or --known-hosts FILE) must know the
host, or pass --accept-new-host-key once to record it. A changed key is always refused.

${EXIT_CODES_HELP}
`;

/** -U DIR, with the host's flags when given: a snapshot the run could not remove is then removed too. */
async function unmountWithOptionalHost(dir: string, flags: Record<string, unknown>, log: Logger, cleanupTimeoutMs: number) {
  const stateDir = stateDirPath(flags.stateDir as string | undefined);
  if (!flags.host) return unmountDir(dir, { log, stateDir, cleanupTimeoutMs });
  const lazy = lazyHostFromFlags(flags, log);
  try {
    return await unmountDir(dir, { log, stateDir, host: lazy.host, hostFlags: lazy.flags, cleanupTimeoutMs });
  } finally {
    await lazy.close();
  }
}

function startLogging(flags: Record<string, unknown>, outcome: RunOutcome): Logger {
  const level = Number(flags.logLevel ?? 3);
  if (!Number.isInteger(level) || level < 0 || level > 6) throw new VcbError('USAGE', `-L ${String(flags.logLevel)}: expected a level from 0 (quiet) to 6 (most verbose)`);
  outcome.log = createLogger({ level, json: Boolean(flags.json), file: flags.logFile as string | undefined });
  return outcome.log;
}

/** -U DIR and `post DIR`: release what the run at DIR holds; done and safe to repeat. */
async function unmountAction(dir: string, flags: Record<string, unknown>, io: CliIO, outcome: RunOutcome): Promise<void> {
  const log = startLogging(flags, outcome);
  const report = await unmountWithOptionalHost(dir, flags, log, seconds(flags.cleanupTimeout, '--cleanup-timeout'));
  io.stdout.write(flags.json ? JSON.stringify({ ok: true, ...report }) + '\n' : report.nothingToDo ? `nothing to remove at ${report.dir}\n` : `removed ${report.removed.join(', ')}\n`);
}

/**
 * A backup. As `pre` (a backup program's hook before its own job) stdout carries only the ready directory,
 * for the caller to read; the summary goes to stderr.
 */
async function backupAction(flags: Record<string, unknown>, io: CliIO, outcome: RunOutcome, mode: 'backup' | 'pre'): Promise<void> {
  const log = startLogging(flags, outcome);
  const cleanupTimeoutMs = seconds(flags.cleanupTimeout, '--cleanup-timeout');
  if (flags.stream && flags.dir) throw new VcbError('USAGE', `--stream -r ${String(flags.dir)}: a stream writes no export directory; drop -r (or drop --stream to export to -r)`);
  const missing = [!flags.host && '-h HOST', !flags.vm && '-a SELECTOR', !flags.dir && !flags.stream && '-r DIR'].filter(Boolean);
  if (missing.length) throw new VcbError('USAGE', `missing ${missing.join(', ')} (see vcbmounter ${mode === 'pre' ? 'pre ' : ''}--help)`);
  const sim = isSimHost(String(flags.host));
  if (sim && flags.type === 'file' && !flags.dryRun) {
    throw new VcbError('USAGE', '-t file -h sim: the embedded simulated host lives only as long as this command, and the mounts must outlive it; start it with `vcbmounter sim` in another terminal and point -h, --port and --host-key at what it prints');
  }
  if (sim && mode === 'pre' && !flags.dryRun) {
    throw new VcbError('USAGE', 'pre -h sim: the embedded simulated host lives only as long as this command, and `post` needs it too; start it with `vcbmounter sim` in another terminal and point -h, --port and --host-key at what it prints');
  }
  const password = sim || flags.dryRun ? undefined : await passwordFromFlags(flags);
  const parsed = backupOptionsSchema.safeParse({
    ...connectionInput(flags, password),
    selector: flags.vm,
    dir: flags.dir ?? '',
    type: flags.type,
    mode: flags.mode,
    monolithic: flags.monolithic === '1',
    preexistingMountpoint: flags.preexistingMountpoint,
    preexistingSnapshot: flags.preexistingSnapshot,
    requireQuiesce: flags.requireQuiesce,
    quiesce: flags.quiesce,
    lunMap: parseLunMap(flags.lun as string[] | undefined),
    stateDir: flags.stateDir,
    snapshotTimeoutMs: seconds(flags.snapshotTimeout, '--snapshot-timeout'),
    cleanupTimeoutMs,
    commandTimeoutMs: seconds(flags.commandTimeout, '--command-timeout'),
    connectRetries: connectRetriesFlag(flags.connectRetries),
    dryRun: flags.dryRun,
    agent: flags.agent,
    agentShell: flags.agentShell,
    agentPreset: flags.agentPreset,
    stream: flags.stream,
    agentTimeoutMs: seconds(flags.agentTimeout, '--agent-timeout'),
    hook: typeof flags.hook === 'string' ? checkHook(flags.hook) : undefined,
    hookTimeoutMs: seconds(flags.hookTimeout, '--hook-timeout'),
    excludeDisks: flags.excludeDisk,
    cold: flags.cold,
    shutdownTimeoutMs: seconds(flags.shutdownTimeout, '--shutdown-timeout'),
    hardPowerOff: flags.hardPowerOff,
  });
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new VcbError('USAGE', `${flagOf(String(i.path[0] ?? ''))}: ${i.message}`);
  }
  const o: BackupOptions = parsed.data;
  refuseBadCombinations(o);
  if ((o.agent || o.agentPreset) && mode === 'pre') throw new VcbError('USAGE', 'pre --agent: `pre` leaves the export or mount ready for the backup program that called it; run the agent from a plain backup instead (no `pre`)');
  const jobType = jobTypeFor(o.type, { agent: o.agent ?? o.agentPreset, hook: o.hook, stream: o.stream, cold: o.cold });
  if (o.dryRun) {
    io.stdout.write(dryRunPlan(jobType, o).join('\n') + '\n');
    return;
  }
  const handlers = installCommandSignals(io, {
    release: `vcbmounter cleanup -h ${hostFlags(o)} ...`,
    stillRunning: () => {
      const programs = runningPrograms();
      return programs.length ? `; still running: ${programs.join(', ')} (stop it if it must not finish on its own)` : '';
    },
  });
  const progress = progressRenderer(io.stderr, !flags.json && !flags.logFile);
  const embedded = sim ? await (await import('./embedded-sim.js')).embeddedSimulatorSession(o, log) : undefined;
  try {
    const hook = o.hook ? { file: o.hook, timeoutMs: o.hookTimeoutMs, log, signal: handlers.signal } : undefined;
    const result = await withJobHooks(hook, { selector: o.selector, dir: o.dir ? resolvePath(o.dir) : '', host: hostLabel(o), type: o.type }, () =>
      runJob(jobType, o, {
        log,
        signal: handlers.signal,
        onProgress: progress.update,
        ...(embedded ? { openSession: embedded.open } : {}),
        onHolding: handlers.holding,
      }),
    );
    progress.done();
    if (flags.json) io.stdout.write(JSON.stringify({ ok: true, ...result }) + '\n');
    else if (mode === 'pre') {
      io.stderr.write(summaryText(result));
      io.stdout.write(`${result.dir}\n`);
    } else io.stdout.write(summaryText(result));
  } finally {
    progress.done();
    outcome.interruptedBy = handlers.received;
    handlers.dispose();
    await embedded?.stop();
  }
}

const PRE_EXAMPLES = `
Examples (as a backup program's commands before and after its job):
  vcbmounter pre -h esx01 -u root --password-file /etc/vcbmounter/esx01.pass -a name:web01 -r /backup/stage/web01
  vcbmounter post /backup/stage/web01 -h esx01 -u root --password-file /etc/vcbmounter/esx01.pass

pre prints the ready directory on stdout and exits 0; any other exit status means: do not back it up
(nothing is left held). post is safe to run after a failed, half-done or killed pre, and to repeat.
`;

const RUN_EXAMPLES = `
Examples:
  vcbmounter run /etc/vcbmounter/nightly.yaml            from cron: 0 2 * * * vcbmounter run /etc/vcbmounter/nightly.yaml
  vcbmounter run nightly.yaml --dry-run                  what would be backed up, kept and deleted
  vcbmounter run nightly.yaml --dry-run --offline        check the file without contacting the hosts
  vcbmounter run nightly.yaml --json > summary.json

Exit codes: 0 every VM backed up; 12 some failed; 13 all failed; 2 the job file is wrong (nothing contacted);
14 the job is already running; 130/143 interrupted (everything released). Each VM's own code is in --json.
`;

export async function run(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const outcome: RunOutcome = { exitCode: EXIT.OK };
  const program = newProgram(io)
    .version(TOOL_VERSION, '--version')
    .description('Back up a running VMware ESX/ESXi VM over SSH: snapshot, export, consolidate. Drop-in for vcbMounter command lines.')
    .addHelpText('after', EXAMPLES);
  withBackupOptions(program)
    .option('-U, --unmount <dir>', 'remove a directory an earlier run created (safe to repeat)')
    .action(async (flags: Record<string, unknown>) => {
      if (flags.unmount) await unmountAction(String(flags.unmount), flags, io, outcome);
      else await backupAction(flags, io, outcome, 'backup');
    });

  const pre = program
    .command('pre')
    .description('for a backup program\'s "before job" command: make the export (or -t file mount) ready, print its directory, exit 0; `post DIR` releases it')
    .helpOption('--help')
    .addHelpText('after', PRE_EXAMPLES);
  withBackupOptions(pre).action(async (flags: Record<string, unknown>) => backupAction(flags, io, outcome, 'pre'));

  const post = program
    .command('post')
    .description('for a backup program\'s "after job" command (also after a failed or cancelled job): release everything `pre` made for DIR, as -U DIR does')
    .argument('<dir>', 'the directory `pre` printed (its -r)')
    .helpOption('--help')
    .addHelpText('after', PRE_EXAMPLES);
  withConnectionOptions(post, 'the host `pre` backed up from (needed when pre was interrupted while it held a snapshot)')
    .option('--state-dir <dir>', 'locks and journals (the same as pre\'s)')
    .addOption(new Option('--cleanup-timeout <seconds>', 'bound on releasing everything').default('300', '300 s'))
    .option('-L, --log-level <0-6>', 'log verbosity', '3')
    .option('--json', 'print a JSON summary on stdout (and JSON logs)')
    .option('--log-file <file>', 'write logs to this file instead of stderr')
    .action(async (dir: string, flags: Record<string, unknown>) => unmountAction(dir, flags, io, outcome));

  program
    .command('run')
    .description('back up every VM a job file selects (YAML or JSON): limits, retention, notifications, one summary; for cron')
    .argument('<job>', 'the job file (see docs/jobs.md)')
    .option('--dry-run', "print the plan (hosts, VMs and why, order, limits, retention); reads only the hosts' VM listings")
    .option('--offline', 'with --dry-run: contact nothing, show the selections unresolved')
    .option('--json', 'print the summary as JSON on stdout (and JSON logs)')
    .option('--no-notify', 'do not send the notifications the job file lists')
    .option('-L, --log-level <0-6>', 'log verbosity', '3')
    .option('--log-file <file>', 'write logs to this file instead of stderr')
    .helpOption('--help')
    .addHelpText('after', RUN_EXAMPLES)
    .action(async (job: string, flags: Record<string, unknown>) => {
      const log = startLogging(flags, outcome);
      outcome.exitCode = await (await import('./run-command.js')).runCommand(job, flags, io, log);
    });

  program
    .command('sim')
    .description('run the simulated ESX host (SSH on 127.0.0.1) in the foreground; prints one JSON line with how to connect')
    .option('--port <port>', 'port; 0 picks a free one', (v) => Number(v), 0)
    .option('--dir <dir>', 'state directory (LUN images, host state); reused when it exists')
    .option('--inventory <demo|file>', 'VMs and datastores: "demo" or a JSON inventory file', 'demo')
    .option('--faults <file>', 'JSON fault rules (fail, hang, late, slow, drop, fill)')
    .action(async (flags: { port: number; dir?: string; inventory: string; faults?: string }) => {
      outcome.exitCode = await (await import('./sim.js')).runSim(flags, io);
    });

  // The -t file disk server, started by a run (its configuration arrives on stdin); not for people to call.
  program
    .command('serve-disks', { hidden: true })
    .action(async () => {
      outcome.exitCode = await (await import('../serve/disk-server.js')).runDiskServer();
    });

  const cleanup = program
    .command('cleanup')
    .description('release what interrupted runs left behind (backup snapshots, unfinished exports), found in the journal');
  withConnectionOptions(cleanup, 'host whose runs to clean up')
    .option('--state-dir <dir>', 'locks and journals of the backups to release (default as for a backup)')
    .option('--list', 'only list interrupted runs, and the mounts (-t file, mount-backup) that hold something until -U, with their age; contact nothing')
    .option('--forget <runid>', 'stop tracking an interrupted run whose leftovers you removed by hand (after checking the host)')
    .addOption(new Option('--cleanup-timeout <seconds>', 'bound on releasing what one run left').default('300', '300 s'))
    .option('-L, --log-level <0-6>', 'log verbosity', '3')
    .helpOption('--help')
    .action(async (flags: Record<string, unknown>) => {
      outcome.log = createLogger({ level: Number(flags.logLevel), json: false });
      outcome.exitCode = await runCleanup(flags, io, outcome.log, seconds(flags.cleanupTimeout, '--cleanup-timeout'));
    });

  // Commands for scripts: vcbVmName's and vcbSnapshot's roles.
  registerListCommand(program, io, outcome);
  registerSnapshotCommand(program, io, outcome);
  registerRestoreCommand(program, io, outcome);
  registerVerifyCommand(program, io, outcome);
  registerMountBackupCommand(program, io, outcome);

  return parseAndRun(program, argv, io, outcome);
}
