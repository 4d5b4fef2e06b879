// Rows 8 to 10: --stream into restic against `ssh cat | restic backup --stdin`, against export-then-restic, and its memory as the disk grows.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { binCommand } from '../test-support/bin-command.js';
import type { BenchArgs } from './args.js';
import { alternate, best, cliHostArgs, dataPhaseNote, mib, sshArgs, type Comparison, type Log } from './cases.js';
import { VM, type BenchHost } from './fixture.js';
import { runChild, type RunResult } from './measure.js';
import { shellQuote } from '../../src/util/shell-quote.js';

let repoCounter = 0;

/** A new, empty restic repository for one timed run (a shared one would let later runs deduplicate against earlier ones). */
function freshRepository(host: BenchHost): { env: Record<string, string>; remove(): void } {
  const dir = join(host.out, `restic-${++repoCounter}`);
  const passwordFile = join(host.work, 'restic-pass');
  writeFileSync(passwordFile, 'bench\n', { mode: 0o600 });
  const env = { RESTIC_REPOSITORY: dir, RESTIC_PASSWORD_FILE: passwordFile };
  execFileSync('restic', ['init', '--quiet'], { env: { ...process.env, ...env } });
  return { env, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

async function withRepository(host: BenchHost, run: (env: Record<string, string>) => Promise<RunResult>): Promise<RunResult> {
  const repo = freshRepository(host);
  try {
    return await run(repo.env);
  } finally {
    repo.remove();
  }
}

/** What an admin scripts without vcbmounter: the flat file over OpenSSH straight into restic (no snapshot, no VM files). */
function sshCatIntoRestic(host: BenchHost, vm: string, env: Record<string, string>): Promise<RunResult> {
  const ssh = ['ssh', ...sshArgs(host, ['cat', `'${host.flatPath(vm)}'`])].map(shellQuote).join(' ');
  return runChild({ command: 'bash', args: ['-c', `set -o pipefail; ${ssh} | restic backup --quiet --stdin --stdin-filename ${vm}.tar`], env });
}

function cliRun(host: BenchHost, args: string[], env: Record<string, string>, rssFile?: string): Promise<RunResult> {
  const cli = binCommand(args);
  return runChild({ command: cli.command, args: cli.args, input: `${host.sim.password}\n`, env, ...(rssFile ? { rssFile } : {}) });
}

export async function streamCases(host: BenchHost, args: BenchArgs, log: Log): Promise<Comparison[]> {
  const size = args.size;
  log(`8. --stream into restic vs ssh cat | restic backup --stdin (${mib(size)} thick disk)`);
  const streamed = (env: Record<string, string>) => cliRun(host, [...cliHostArgs(host, VM.thick), '--stream', '--agent-preset', 'restic'], env);
  const r8 = await alternate(
    args.repeat,
    log,
    'stream',
    () => withRepository(host, (env) => sshCatIntoRestic(host, VM.thick, env)),
    () => withRepository(host, streamed),
  );
  // Each side's cost beyond the bytes (process start, login; for vcbmounter also the snapshot's create and
  // remove at the host's pace): the same two commands on the 1 MiB disk.
  const fixed = await alternate(1, log, 'stream, 1 MiB disk', () => withRepository(host, (env) => sshCatIntoRestic(host, VM.tiny, env)), () =>
    withRepository(host, (env) => cliRun(host, [...cliHostArgs(host, VM.tiny), '--stream', '--agent-preset', 'restic'], env)),
  );
  const ratio8 = r8.baseline.seconds / r8.subject.seconds;
  const row8: Comparison = {
    title: `--stream of a ${mib(size)} thick disk into restic (new repository each run) vs OpenSSH \`cat\` of its flat file piped into \`restic backup --stdin\``,
    subject: { label: 'vcbmounter --stream --agent-preset restic', seconds: r8.subject.seconds, bytes: size },
    baseline: { label: 'ssh cat | restic backup --stdin', seconds: r8.baseline.seconds, bytes: size },
    kind: 'rate',
    ratio: ratio8,
    target: 0.9,
    pass: ratio8 >= 0.9,
    notes: [
      dataPhaseNote(r8.subject.seconds, r8.baseline.seconds, size, { subject: fixed.subject.seconds, baseline: fixed.baseline.seconds }),
      'vcbmounter also snapshots the VM, hashes every 1 MiB block for the catalog and sends the VM files; the baseline copies the live flat file only',
    ],
  };

  log(`9. --stream into restic vs export to -r then restic on it (${mib(size)} thick disk)`);
  const exported = (env: Record<string, string>) => {
    const dir = join(host.out, `stage-${++repoCounter}`);
    return cliRun(host, [...cliHostArgs(host, VM.thick), '-r', dir, '--agent-preset', 'restic'], env).finally(() => rmSync(dir, { recursive: true, force: true }));
  };
  const r9 = await alternate(args.repeat, log, 'export-then-restic', () => withRepository(host, exported), () => withRepository(host, streamed));
  const ratio9 = r9.baseline.seconds / r9.subject.seconds;
  const row9: Comparison = {
    title: `--stream of a ${mib(size)} thick disk into restic vs exporting it to -r and running restic on the export (--agent-preset restic), end to end`,
    subject: { label: 'vcbmounter --stream', seconds: r9.subject.seconds, bytes: size },
    baseline: { label: 'vcbmounter -r DIR, then restic', seconds: r9.baseline.seconds, bytes: size },
    kind: 'speedup',
    ratio: ratio9,
    target: 1,
    pass: ratio9 > 1,
    notes: ['the export side writes and fsyncs the disk on the proxy, then restic reads it back; the stream needs no scratch space'],
  };

  const small = host.thinWritten[VM.memorySmall]!;
  log(`10. peak RSS of --stream: ${mib(args.memorySmall)} vs ${mib(args.memoryLarge)} thin disk (${mib(small)} written in each), agent cat > /dev/null`);
  const rss = join(host.work, 'stream-rss');
  mkdirSync(host.work, { recursive: true });
  const sink = (vm: string) => cliRun(host, [...cliHostArgs(host, vm), '--stream', '--agent', 'dd of=/dev/null bs=1M status=none'], {}, rss);
  const smallRuns: RunResult[] = [];
  const largeRuns: RunResult[] = [];
  await alternate(args.repeat, log, 'stream memory', async () => {
    const run = await sink(VM.memorySmall);
    smallRuns.push(run);
    return run;
  }, async () => {
    const run = await sink(VM.memoryLarge);
    largeRuns.push(run);
    return run;
  });
  const peak = (runs: RunResult[]) => Math.max(...runs.map((x) => x.peakRss ?? 0));
  const ratio10 = peak(largeRuns) / peak(smallRuns);
  const row10: Comparison = {
    title: `peak RSS of --stream of a ${mib(args.memoryLarge)} vs a ${mib(args.memorySmall)} thin disk (every byte, holes as zeros, into dd of=/dev/null)`,
    subject: { label: `${mib(args.memoryLarge)} disk`, seconds: best(largeRuns).seconds, bytes: args.memoryLarge, peakRss: peak(largeRuns) },
    baseline: { label: `${mib(args.memorySmall)} disk`, seconds: best(smallRuns).seconds, bytes: args.memorySmall, peakRss: peak(smallRuns) },
    kind: 'memory',
    ratio: ratio10,
    target: 1.1,
    pass: Math.abs(ratio10 - 1) <= 0.1,
    notes: ['peak RSS from GNU time (%M) of vcbmounter and the agent it waits for; the stream carries the holes as zeros, so the larger disk moves 8x the bytes'],
  };
  return [row8, row9, row10];
}
