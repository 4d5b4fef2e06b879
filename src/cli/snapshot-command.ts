// `vcbmounter snapshot list|create|find|remove` (vcbSnapshot's role): a VM's snapshots for scripts, refusing to remove one vcbmounter did not make.

import { Command, Option } from 'commander';
import { VcbError } from '../errors.js';
import { BACKUP_SNAPSHOT_NAME } from '../esx/index.js';
import { resolveStateDir } from '../engine/index.js';
import type { Logger } from '../log.js';
import { parseSelector, resolveVm } from '../workflow/identify.js';
import type { HostSession } from '../workflow/connect.js';
import {
  createScriptSnapshot,
  describeListed,
  listVmSnapshots,
  removeBackupSnapshots,
  type ScriptSnapshotTarget,
  type SnapshotListing,
} from '../workflow/script-snapshot.js';
import type { CliIO } from './io.js';
import { cell, formatTable, startCommandLog, withScriptCommandOptions, withSession, type CommandOutcome } from './host-command.js';
import { seconds } from './numeric-flags.js';

const C = 'vcbmounter snapshot';
const EXAMPLES = `
Examples (a script that copies a VM's files itself between create and remove):
  id=$(${C} create -h esx01 -u root --password-file F -a name:web01) || exit 1
  ...copy the frozen base disks...
  ${C} remove -h esx01 -u root --password-file F -a name:web01
  ${C} list -h esx01 -u root --password-file F -a 'name:web 01' --json
  ${C} find -h esx01 -u root --password-file F -a moref:12 && echo "a backup snapshot is there"
  ${C} remove -h esx01 -u root --password-file F -a name:web01 --id 7 --force   a user's snapshot, on purpose

The backup snapshot is named ${BACKUP_SNAPSHOT_NAME}. create and remove hold the VM's lock while they work, so a
backup of the same VM from this proxy (same --state-dir) is refused meanwhile, and they are refused while
one runs. A snapshot made by create belongs to the script that made it: no backup run, \`cleanup\` or
\`-U\` removes it (a backup of the VM fails while it exists); only \`snapshot remove\` does.
Exit codes: 0 done (remove: also when there was nothing to remove), 2 bad flags, 3 cannot connect,
4 VM not found, 5 locked by a backup, 6 refused or the host failed (create: a ${BACKUP_SNAPSHOT_NAME} snapshot
exists already; remove: the snapshot is not vcbmounter's and --force is missing), 15 find: no
${BACKUP_SNAPSHOT_NAME} snapshot (remove --id: no snapshot with that id).
`;

/** The subcommand's host session and VM (-a), resolved; -a is checked before anything is contacted. */
async function withVm<T>(flags: Record<string, unknown>, log: Logger, sub: string, fn: (session: HostSession, vm: Awaited<ReturnType<typeof resolveVm>>) => Promise<T>): Promise<T> {
  if (!flags.vm) throw new VcbError('USAGE', `snapshot ${sub} needs -a SELECTOR (name:, ipaddr:, uuid: or moref:)`);
  const selector = parseSelector(String(flags.vm));
  return withSession(flags, log, `snapshot ${sub}`, async (session) => fn(session, await resolveVm(session.esx, selector)));
}

function target(flags: Record<string, unknown>, stateDir: string, log: Logger, sub: string, session: HostSession, vm: ScriptSnapshotTarget['vm']): ScriptSnapshotTarget {
  return {
    session,
    vm,
    stateDir,
    log,
    argv: ['snapshot', sub, '-h', String(flags.host), '-a', String(flags.vm)],
  };
}

const idOf = (s: SnapshotListing): string => s.id ?? '-';

function madeByText(s: SnapshotListing): string {
  if (s.madeBy === 'backup-run') return `vcbmounter backup run ${s.runId}`;
  if (s.madeBy === 'snapshot-create') return 'vcbmounter snapshot create';
  if (s.madeBy === 'vcb-tool') return 'another VCB tool';
  return '-';
}

function snapshotTable(list: SnapshotListing[]): string {
  return formatTable(
    ['ID', 'NAME', 'CREATED', 'STATE', 'QUIESCED', 'MADE BY'],
    list.map((s) => [idOf(s), `${'  '.repeat(s.depth)}${cell(s.name)}`, s.created || '-', s.state ?? '-', s.quiesced === undefined ? '?' : s.quiesced ? 'yes' : 'no', madeByText(s)]),
  );
}

const vmJson = (vm: ScriptSnapshotTarget['vm']) => ({ name: vm.ref.name, moref: vm.ref.id });

export function registerSnapshotCommand(program: Command, io: CliIO, outcome: CommandOutcome): void {
  const snapshot = program
    .command('snapshot')
    .description(`a VM's snapshots for scripts (vcbSnapshot's role): list, create, find or remove the ${BACKUP_SNAPSHOT_NAME} snapshot`)
    .helpOption('--help')
    .addHelpText('after', EXAMPLES);
  const sub = (name: string, description: string): Command =>
    withScriptCommandOptions(snapshot.command(name).description(description).addHelpText('after', EXAMPLES), 'ESX/ESXi host').option('-a, --vm <selector>', 'which VM: name:<display name> | ipaddr:<ip> | uuid:<BIOS uuid> | moref:<vmid>')
      .option('--state-dir <dir>', "locks and journals (create and remove hold the VM's lock while they work; default as for a backup)");

  sub('list', "the VM's snapshot tree: id, name, created, state, quiesced (where known) and which vcbmounter made").action(async (flags: Record<string, unknown>) => {
    const log = startCommandLog(flags, outcome);
    await withVm(flags, log, 'list', async (session, vm) => {
      const list = await listVmSnapshots(session, vm.ref);
      io.stdout.write(flags.json ? JSON.stringify({ vm: vmJson(vm), snapshots: list }, null, 2) + '\n' : list.length ? snapshotTable(list) : `${vm.ref.name} has no snapshots\n`);
    });
  });

  sub('find', `print the id of the VM's ${BACKUP_SNAPSHOT_NAME} snapshot (one per line; "-" where the host lists no ids); exit 15 when it has none`).action(
    async (flags: Record<string, unknown>) => {
      const log = startCommandLog(flags, outcome);
      await withVm(flags, log, 'find', async (session, vm) => {
        const found = (await listVmSnapshots(session, vm.ref)).filter((s) => s.backup);
        if (found.length === 0) throw new VcbError('NO_SNAPSHOT', `${vm.ref.name} has no ${BACKUP_SNAPSHOT_NAME} snapshot`, { vm: vm.ref.name });
        io.stdout.write(flags.json ? JSON.stringify({ vm: vmJson(vm), snapshots: found }, null, 2) + '\n' : found.map((s) => `${idOf(s)}\n`).join(''));
      });
    },
  );

  sub('create', `create the VM's ${BACKUP_SNAPSHOT_NAME} snapshot (quiesced when VMware Tools run) and print its id; refused when one exists`)
    .option('--no-quiesce', 'crash-consistent: do not ask VMware Tools to quiesce the guest')
    .option('--memory', "include the VM's memory (it can resume from the snapshot; slower, larger; no quiesce then)")
    .addOption(new Option('--snapshot-timeout <seconds>', 'give up waiting for the create after this long (a quiesce can hang)').default('900', '900 s'))
    .action(async (flags: Record<string, unknown>) => {
      const timeoutMs = seconds(flags.snapshotTimeout, '--snapshot-timeout');
      const stateDir = resolveStateDir(flags.stateDir as string | undefined);
      const log = startCommandLog(flags, outcome);
      await withVm(flags, log, 'create', async (session, vm) => {
        const r = await createScriptSnapshot(target(flags, stateDir, log, 'create', session, vm), { quiesce: flags.quiesce !== false, memory: Boolean(flags.memory), timeoutMs });
        for (const w of r.warnings) io.stderr.write(`vcbmounter: warning: ${w}\n`);
        io.stdout.write(flags.json ? JSON.stringify({ ok: true, vm: vmJson(vm), snapshot: r.snapshot, quiesced: r.quiesced, warnings: r.warnings }) + '\n' : `${idOf(r.snapshot)}\n`);
      });
    });

  sub('remove', `remove the VM's ${BACKUP_SNAPSHOT_NAME} snapshot (or the one --id names); a snapshot vcbmounter did not make only with --force`)
    .option('--id <id>', 'this snapshot (as `snapshot list` shows it) instead of every ' + BACKUP_SNAPSHOT_NAME)
    .option('--force', `with --id: remove it even though it is not named ${BACKUP_SNAPSHOT_NAME} (a user's snapshot)`)
    .addOption(new Option('--snapshot-timeout <seconds>', 'give up waiting for the removal after this long').default('900', '900 s'))
    .action(async (flags: Record<string, unknown>) => {
      const timeoutMs = seconds(flags.snapshotTimeout, '--snapshot-timeout');
      if (flags.force && flags.id === undefined) throw new VcbError('USAGE', `--force needs --id ID: it names the one snapshot to remove although vcbmounter did not make it (see snapshot list)`);
      const stateDir = resolveStateDir(flags.stateDir as string | undefined);
      const log = startCommandLog(flags, outcome);
      await withVm(flags, log, 'remove', async (session, vm) => {
        const r = await removeBackupSnapshots(target(flags, stateDir, log, 'remove', session, vm), {
          ...(flags.id !== undefined ? { id: String(flags.id) } : {}),
          force: Boolean(flags.force),
          timeoutMs,
        });
        if (flags.json) io.stdout.write(JSON.stringify({ ok: true, vm: vmJson(vm), removed: r.removed, nothing: r.nothing }) + '\n');
        else if (r.nothing) io.stdout.write(`${vm.ref.name} has no ${BACKUP_SNAPSHOT_NAME} snapshot: nothing to remove\n`);
        else io.stdout.write(r.removed.length ? r.removed.map((s) => `removed snapshot ${describeListed(s)} of ${vm.ref.name}\n`).join('') : `the snapshot was already gone\n`);
      });
    });
}
