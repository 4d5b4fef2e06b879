// The -t file cases (rows 5 to 7): time to the first file, reading every file through the mount, the disk server's memory as the volume grows.
//
// The simulated host runs in this process, and it is what serves the mounts (through the disk server's SSH
// connection): a synchronous read of a mounted file from here would block the host that has to answer it.
// Every read of a mount is done by a child process (cat, tar, dd); this process only reads /proc and the
// state file in DIR itself, which is not on a mount.

import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readMountTable } from '../../src/mount/mount-table.js';
import { binCommand } from '../test-support/bin-command.js';
import type { BenchArgs } from './args.js';
import { alternate, best, mib, sshCat, type Comparison, type Log } from './cases.js';
import { VM, type BenchHost } from './fixture.js';
import { FIRST_FILE, FIRST_FILE_CONTENT, planFileBytes, VOLUME_START } from './guest-volume.js';
import { localStackRun, type LocalStackRun } from './local-stack.js';
import { runChild } from './measure.js';

const execFileAsync = promisify(execFile);

/** What one `vcbmounter -t file` run gave, from its start to its -U. */
export interface FileRun {
  vm: string;
  /** Command start to the end of a `cat` of the guest's /etc/hostname through the mount, s. */
  firstFile: number;
  /** Command start to the CLI's exit, s. */
  exited: number;
  /** The host's own time for the snapshot create (vim-cmd vmsvc/snapshot.create in the simulator's command log), s. */
  snapshotCreate: number;
  /** Seconds from the command's start at which each step began (its JSON log), then `exit`. */
  steps: Array<{ step: string; at: number }>;
  /** The read after the first file: every file with tar, or the volume's loop device whole with dd; what the host served meanwhile. */
  read: { how: 'tar' | 'loop'; seconds: number; bytes: number; host: HostReads };
  /** Peak RSS (VmHWM) of the disk server once the volumes were mounted, and after the read; of nbdfuse after the read. Bytes. */
  serverHwmMounted: number;
  serverHwmAfter: number;
  fuseHwmAfter?: number;
  /** How long -U took, s. */
  unmount: number;
}

/** The `dd` commands the simulated host ran for the disk server while a read went on (its command log). */
export interface HostReads {
  /** Bytes the dd commands were asked for (bs × count). */
  bytes: number;
  /** dd commands, and command lines (SSH channels: the disk server batches several dd into one line). */
  commands: number;
  lines: number;
  /** Seconds in which at least one command line was running, and the sum of the lines' durations. */
  busy: number;
  lineSeconds: number;
}

/** Sums the `dd` commands of the command log that started within [fromMs, toMs]. */
export function hostReadsBetween(log: ReadonlyArray<{ session: number; argv: string[]; startedAt: number; endedAt: number }>, fromMs: number, toMs: number): HostReads {
  let bytes = 0;
  let commands = 0;
  const lines = new Map<number, { start: number; end: number }>();
  for (const r of log) {
    if (r.argv[0] !== 'dd' || r.startedAt < fromMs || r.startedAt > toMs) continue;
    const operand = (name: string) => Number(r.argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1));
    const bs = operand('bs');
    const count = operand('count');
    if (Number.isFinite(bs) && Number.isFinite(count)) bytes += bs * count;
    commands++;
    const line = lines.get(r.session);
    if (line) {
      line.start = Math.min(line.start, r.startedAt);
      line.end = Math.max(line.end, r.endedAt);
    } else lines.set(r.session, { start: r.startedAt, end: r.endedAt });
  }
  const spans = [...lines.values()].sort((a, b) => a.start - b.start);
  let busy = 0;
  let lineSeconds = 0;
  let coveredTo = -Infinity;
  for (const span of spans) {
    lineSeconds += (span.end - span.start) / 1000;
    const from = Math.max(span.start, coveredTo);
    if (span.end > from) busy += (span.end - from) / 1000;
    coveredTo = Math.max(coveredTo, span.end);
  }
  return { bytes, commands, lines: lines.size, busy, lineSeconds };
}

let fileRunCounter = 0;

function connectionArgs(host: BenchHost): string[] {
  const { sim, work } = host;
  return ['-h', '127.0.0.1', '--port', String(sim.port), '-p', '-', '--host-key', sim.fingerprint, '--state-dir', join(work, 'cli-state')];
}

async function cli(host: BenchHost, args: string[]) {
  const c = binCommand([...connectionArgs(host), ...args]);
  return runChild({ command: c.command, args: c.args, input: `${host.sim.password}\n` });
}

/** VmHWM of a process (its peak resident set), bytes; undefined when it is gone. */
export function peakRssOf(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Processes whose command line contains `needle`, but this one. */
function processesMentioning(needle: string): Array<{ pid: number; cmd: string }> {
  const found: Array<{ pid: number; cmd: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (cmd.includes(needle)) found.push({ pid: Number(name), cmd });
    } catch {
      continue;
    }
  }
  return found;
}

/** Step start times from the CLI's JSON log lines (pino: `time` in ms, `step` on each step's first line). */
export function stepTimes(stderr: string, startedAtMs: number): Array<{ step: string; at: number }> {
  const steps: Array<{ step: string; at: number }> = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { time?: number; step?: string };
      if (typeof entry.step === 'string' && typeof entry.time === 'number') steps.push({ step: entry.step, at: (entry.time - startedAtMs) / 1000 });
    } catch {
      continue;
    }
  }
  return steps;
}

interface RunState {
  server: { pid: number };
  held: Array<{ kind: string; resource: Record<string, unknown> }>;
}

/** What a run left on this proxy after -U: mounts, loop devices on its disk files, its disk server or nbdfuse. */
async function leftovers(dir: string, runDir: string | undefined, serverPid: number | undefined): Promise<string[]> {
  const found: string[] = [];
  const under = (p: string, d: string) => p === d || p.startsWith(`${d}/`);
  for (const m of readMountTable()) if (under(m.mountPoint, dir) || (runDir && under(m.mountPoint, runDir))) found.push(`mount ${m.mountPoint}`);
  if (runDir) {
    const { stdout } = await execFileAsync('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE']);
    const loops = stdout.trim() ? (JSON.parse(stdout) as { loopdevices: Array<{ name: string; 'back-file'?: string }> }).loopdevices : [];
    for (const l of loops) if (l['back-file']?.startsWith(runDir)) found.push(`loop device ${l.name}`);
    for (const p of processesMentioning(runDir)) found.push(`process ${p.pid}: ${p.cmd}`);
  }
  if (serverPid !== undefined && peakRssOf(serverPid) !== undefined) found.push(`disk server ${serverPid} still running`);
  return found;
}

/**
 * One `vcbmounter -t file` of `vm` (the real CLI, realistic hostd timing), a `cat` of the first file, then the
 * read (`tar` of every file, or `dd` of the volume's loop device), the disk server's and nbdfuse's peak RSS,
 * and -U, which runs whatever happened; it throws if -U leaves anything behind.
 */
export async function fileRun(host: BenchHost, vm: string, how: 'tar' | 'loop'): Promise<FileRun> {
  const dir = join(host.work, `file-${++fileRunCounter}`);
  const stateFile = join(dir, '.vcbmounter-state.json');
  const plan = host.volumes[vm]!;
  const startedAtMs = Date.now();
  const started = process.hrtime.bigint();
  const since = () => Number(process.hrtime.bigint() - started) / 1e9;
  let state: RunState | undefined;
  let runDir: string | undefined;
  let result: Omit<FileRun, 'unmount'>;
  let unmount = 0;
  try {
    const run = await cli(host, ['-a', `name:${vm}`, '-r', dir, '-t', 'file', '-m', 'nbd', '--preexisting-snapshot', 'delete', '--json', '-L', '3']);
    const exited = since();
    const first = await runChild({ command: 'cat', args: [join(dir, 'digits', '0-1', FIRST_FILE)] });
    const firstFile = since();
    if (first.stdout !== FIRST_FILE_CONTENT) throw new Error(`${FIRST_FILE} read through the mount of ${vm} holds ${JSON.stringify(first.stdout)}`);
    state = JSON.parse(readFileSync(stateFile, 'utf8')) as RunState;
    runDir = state.held.find((h) => h.kind === 'disk-server')?.resource.runDir as string | undefined;
    const serverPid = state.server.pid;
    const serverHwmMounted = peakRssOf(serverPid) ?? 0;
    let read: FileRun['read'];
    const readFrom = Date.now();
    if (how === 'tar') {
      const tar = await runChild({ command: 'bash', args: ['-c', 'set -o pipefail; tar -cf - -C "$1" . | wc -c', 'bash', join(dir, 'digits', '0-1')] });
      read = { how, seconds: tar.seconds, bytes: Number(tar.stdout.trim()), host: hostReadsBetween(host.sim.commandLog, readFrom, Date.now()) };
    } else {
      const loop = state.held.find((h) => h.kind === 'loop-device')?.resource.device as string | undefined;
      if (!loop) throw new Error(`no loop device in ${stateFile}`);
      const dd = await runChild({ command: 'dd', args: [`if=${loop}`, 'of=/dev/null', 'bs=1M', 'status=none'] });
      read = { how, seconds: dd.seconds, bytes: plan.volumeSize, host: hostReadsBetween(host.sim.commandLog, readFrom, Date.now()) };
    }
    const serverHwmAfter = peakRssOf(serverPid) ?? 0;
    const fuse = runDir ? processesMentioning(join(runDir, 'disk0.sock')).find((p) => p.cmd.includes('nbdfuse')) : undefined;
    const fuseHwmAfter = fuse ? peakRssOf(fuse.pid) : undefined;
    const create = host.sim.commandLog.filter((r) => r.argv[1] === 'vmsvc/snapshot.create' && r.startedAt >= startedAtMs).at(-1);
    if (!create) throw new Error(`no snapshot.create of ${vm} in the simulator's command log`);
    result = {
      vm,
      firstFile,
      exited,
      snapshotCreate: (create.endedAt - create.startedAt) / 1000,
      steps: [...stepTimes(run.stderr, startedAtMs), { step: 'exit', at: exited }],
      read,
      serverHwmMounted,
      serverHwmAfter,
      ...(fuseHwmAfter !== undefined ? { fuseHwmAfter } : {}),
    };
  } finally {
    const unmountStarted = process.hrtime.bigint();
    if (existsSync(stateFile)) {
      state ??= JSON.parse(readFileSync(stateFile, 'utf8')) as RunState;
      runDir ??= state.held.find((h) => h.kind === 'disk-server')?.resource.runDir as string | undefined;
      await cli(host, ['-U', dir]);
    }
    unmount = Number(process.hrtime.bigint() - unmountStarted) / 1e9;
    const left = await leftovers(dir, runDir, state?.server.pid);
    if (left.length) throw new Error(`-U ${dir} left behind: ${left.join('; ')}`);
  }
  return { ...result, unmount };
}

/** "start-up 0.45 s, connect 0.36 s, ..." from the step start times: how long each step took. */
export function stepDurations(run: Pick<FileRun, 'steps'>): string {
  const parts: string[] = [];
  const steps = run.steps;
  if (steps.length) parts.push(`start-up ${steps[0]!.at.toFixed(2)} s`);
  for (let i = 0; i + 1 < steps.length; i++) parts.push(`${steps[i]!.step} ${(steps[i + 1]!.at - steps[i]!.at).toFixed(2)} s`);
  return parts.join(', ');
}

function rate(bytes: number, seconds: number): string {
  return `${(bytes / 1024 / 1024 / seconds).toFixed(0)} MiB/s`;
}

/** What the host served during a read, for the notes: bytes against what was needed, command lines, how busy. */
function hostReadsText(reads: HostReads, seconds: number, needed: number, neededWhat: string): string {
  return (
    `the disk server had the host run ${reads.commands} dd in ${reads.lines} command lines for ${mib(reads.bytes)} ` +
    `(${(reads.bytes / needed).toFixed(2)}× ${neededWhat}); a line was running during ${((reads.busy / seconds) * 100).toFixed(0)}% of the ${seconds.toFixed(2)} s, ` +
    `${(reads.lineSeconds / Math.max(reads.busy, 1e-3)).toFixed(1)} at once on average then, each line delivering ${rate(reads.bytes, Math.max(reads.lineSeconds, 1e-3))}`
  );
}

/** The -t file cases: every run gives a time to the first file; the large volume's tar runs give the rate; both sizes' give the memory. */
export async function fileMountCases(host: BenchHost, args: BenchArgs, log: Log): Promise<Comparison[]> {
  const large = host.volumes[VM.volumeLarge]!;
  const small = host.volumes[VM.volumeSmall]!;
  const largeFileBytes = planFileBytes(large);
  const flat = host.flatPath(VM.volumeLarge);
  log(`5-7. -t file (nbd): tar of every file of a ${mib(largeFileBytes)} volume vs ssh cat of its ${mib(large.diskSize)} disk; then a ${mib(planFileBytes(small))} volume`);
  const largeRuns: FileRun[] = [];
  const r = await alternate(args.repeat, log, 'file read', () => sshCat(host, flat, true), async () => {
    const run = await fileRun(host, VM.volumeLarge, 'tar');
    largeRuns.push(run);
    log(`    first file after ${run.firstFile.toFixed(2)} s (host's snapshot create ${run.snapshotCreate.toFixed(2)} s); tar ${rate(largeFileBytes, run.read.seconds)}; disk server peak RSS ${mib(run.serverHwmAfter)}`);
    return { seconds: run.read.seconds };
  });
  const smallRuns: FileRun[] = [];
  for (let i = 1; i <= args.repeat; i++) {
    const run = await fileRun(host, VM.volumeSmall, 'tar');
    smallRuns.push(run);
    log(`  small volume run ${i}/${args.repeat}: first file after ${run.firstFile.toFixed(2)} s (snapshot create ${run.snapshotCreate.toFixed(2)} s), tar ${run.read.seconds.toFixed(2)} s, disk server peak RSS ${mib(run.serverHwmAfter)}`);
  }
  const blockRun = await fileRun(host, VM.volumeLarge, 'loop');
  log(`  block level, once: dd of the large volume's loop device ${blockRun.read.seconds.toFixed(2)} s, ${rate(blockRun.read.bytes, blockRun.read.seconds)}`);
  const ceiling = await localStackRun(host.sim.esx.vfs.open(flat), VOLUME_START, large.volumeSize, host.work);
  log(`  without the host, once: tar through the same stack with the disk in memory ${ceiling.seconds.toFixed(2)} s, ${rate(largeFileBytes, ceiling.seconds)}`);
  return [
    timeToFirstFile([...largeRuns, ...smallRuns, blockRun]),
    throughput(host, args, large, largeFileBytes, r, largeRuns, blockRun, ceiling),
    memoryAsVolumeGrows(args, host, largeRuns, smallRuns),
  ];
}

const FIRST_FILE_TARGET_S = 3;

function timeToFirstFile(runs: FileRun[]): Comparison {
  const overhead = (run: FileRun) => run.firstFile - run.snapshotCreate;
  const chosen = runs.reduce((a, b) => (overhead(b) < overhead(a) ? b : a));
  const ratio = overhead(chosen);
  return {
    title: `-t file -m nbd of a running VM (quiesced snapshot): command start to the first file read through the mount (\`cat\` of /etc/hostname in a child process), vs the host's snapshot create`,
    subject: { label: 'vcbmounter -t file, then cat', seconds: chosen.firstFile },
    baseline: { label: "host's snapshot create (hostd, in the same run)", seconds: chosen.snapshotCreate },
    kind: 'overhead',
    ratio,
    target: FIRST_FILE_TARGET_S,
    pass: ratio < FIRST_FILE_TARGET_S,
    notes: [
      `the figure is the run with the least time beyond its snapshot create, of ${runs.length}: ` +
        runs.map((x) => `${x.firstFile.toFixed(2)} s (create ${x.snapshotCreate.toFixed(2)} s)`).join(', '),
      `where that run's time went (step starts in the CLI's JSON log): ${stepDurations(chosen)}, then the cat ${(chosen.firstFile - chosen.exited).toFixed(2)} s; ` +
        `the snapshot step includes the create and the listings around it; -U then took ${chosen.unmount.toFixed(2)} s (unmounts, disk server, snapshot removal)`,
    ],
  };
}

function throughput(
  host: BenchHost,
  args: BenchArgs,
  plan: BenchHost['volumes'][string],
  fileBytes: number,
  r: { subject: { seconds: number }; baseline: { seconds: number } },
  runs: FileRun[],
  blockRun: FileRun,
  ceiling: LocalStackRun,
): Comparison {
  const tarRun = runs.find((x) => x.read.seconds === r.subject.seconds)!;
  const subjectRate = fileBytes / r.subject.seconds;
  const baselineRate = plan.diskSize / r.baseline.seconds;
  const ratio = subjectRate / baselineRate;
  const allocated = host.sim.esx.vfs.stat(host.flatPath(VM.volumeLarge))!.allocated;
  return {
    title: `-t file -m nbd: tar of every file of a ${mib(fileBytes)} ext4 volume (${plan.files.length + 2} files) through the mount vs OpenSSH \`cat\` of the ${mib(plan.diskSize)} disk's flat file`,
    subject: { label: 'tar -cf - -C MOUNT . | wc -c', seconds: r.subject.seconds, bytes: fileBytes },
    baseline: { label: 'ssh cat > /dev/null', seconds: r.baseline.seconds, bytes: plan.diskSize },
    kind: 'rate',
    ratio,
    target: 0.7,
    pass: ratio >= 0.7,
    notes: [
      `rates: vcbmounter's is the files' bytes over tar's time (tar wrote ${mib(tarRun.read.bytes)} with its headers), ` +
        `the baseline's the flat file's bytes over cat's time (${mib(allocated)} of them allocated on the thin disk, the rest holes read as zeros); ` +
        `tar starts once the volumes are mounted, best of ${args.repeat} run(s) each, a new mount (cold caches) per run`,
      `host side of the best tar run (simulator's command log): ${hostReadsText(tarRun.read.host, tarRun.read.seconds, allocated, 'the disk\'s allocated bytes')}`,
      `block level, one run: \`dd\` of the volume's loop device (${mib(blockRun.read.bytes)}, bs=1M) read at ${rate(blockRun.read.bytes, blockRun.read.seconds)}, ` +
        `${(blockRun.read.bytes / blockRun.read.seconds / baselineRate).toFixed(2)} of the baseline's rate: the nbd path without the file system's access pattern; ` +
        hostReadsText(blockRun.read.host, blockRun.read.seconds, allocated, 'the disk\'s allocated bytes'),
      `without the host, one run: the same disk served from memory by the same NBD server code, through nbdfuse, a read-only loop device and ` +
        `an ext4 mount, tar reads every file at ${rate(fileBytes, ceiling.seconds)}, ${(fileBytes / ceiling.seconds / baselineRate).toFixed(2)} of the baseline's rate: ` +
        `the most any reader of the host can reach through this proxy's stack (see docs/benchmarks.md)`,
    ],
  };
}

function memoryAsVolumeGrows(args: BenchArgs, host: BenchHost, largeRuns: FileRun[], smallRuns: FileRun[]): Comparison {
  const peak = (runs: FileRun[], of: (r: FileRun) => number | undefined) => Math.max(...runs.map((x) => of(x) ?? 0));
  const large = peak(largeRuns, (x) => x.serverHwmAfter);
  const small = peak(smallRuns, (x) => x.serverHwmAfter);
  const ratio = large / small;
  const fuseLarge = peak(largeRuns, (x) => x.fuseHwmAfter);
  const fuseSmall = peak(smallRuns, (x) => x.fuseHwmAfter);
  const largeBytes = planFileBytes(host.volumes[VM.volumeLarge]!);
  const smallBytes = planFileBytes(host.volumes[VM.volumeSmall]!);
  return {
    title: `peak RSS of the disk server (\`serve-disks\`) while tar reads every file of a ${mib(largeBytes)} vs a ${mib(smallBytes)} volume`,
    subject: { label: `${mib(largeBytes)} volume`, seconds: best(largeRuns.map((x) => ({ seconds: x.read.seconds }))).seconds, bytes: largeBytes, peakRss: large },
    baseline: { label: `${mib(smallBytes)} volume`, seconds: best(smallRuns.map((x) => ({ seconds: x.read.seconds }))).seconds, bytes: smallBytes, peakRss: small },
    kind: 'memory',
    ratio,
    target: 1.25,
    pass: ratio <= 1.25,
    notes: [
      `VmHWM of the disk server from /proc (its pid from DIR/.vcbmounter-state.json), read after tar and before -U, highest of ${args.repeat} run(s) per size; ` +
        `once the volumes were mounted, before tar: ${mib(peak(largeRuns, (x) => x.serverHwmMounted))} (large) and ${mib(peak(smallRuns, (x) => x.serverHwmMounted))} (small)`,
      fuseLarge && fuseSmall
        ? `nbdfuse's VmHWM after tar: ${mib(fuseLarge)} (large) and ${mib(fuseSmall)} (small), ratio ${(fuseLarge / fuseSmall).toFixed(2)}`
        : 'nbdfuse\'s VmHWM: not found',
    ],
  };
}
