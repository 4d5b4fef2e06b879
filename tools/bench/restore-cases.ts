// Rows 15 and 16: vcbmounter restore of a thick and of a 10%-written thin disk against OpenSSH `cat > flat` of the same bytes onto the datastore.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { binCommand } from '../test-support/bin-command.js';
import { shellQuote } from '../../src/util/shell-quote.js';
import type { BenchArgs } from './args.js';
import { alternate, dataPhaseNote, mib, sshArgs, type Comparison, type Log } from './cases.js';
import { VM, type BenchHost } from './fixture.js';
import { runChild, type RunResult } from './measure.js';

const DATASTORE = 'datastore1';
/** Where the baseline's copy lands on the datastore (removed after each run). */
const BASELINE_DIR = `/vmfs/volumes/${DATASTORE}/bench-restore-baseline`;

let restoreCounter = 0;

function cliConnection(host: BenchHost): string[] {
  return ['-h', '127.0.0.1', '--port', String(host.sim.port), '-p', '-', '--host-key', host.sim.fingerprint, '--state-dir', join(host.work, 'cli-state'), '-L', '1'];
}

/** The restores' source: a fullvm export of `vm` made by the CLI once, before anything is timed. */
async function exportOnce(host: BenchHost, vm: string, log: Log): Promise<string> {
  const dir = join(host.out, `restore-source-${vm}`);
  const cli = binCommand([...cliConnection(host), '-a', `name:${vm}`, '-r', dir, '--preexisting-snapshot', 'delete', '--json']);
  const run = await runChild({ command: cli.command, args: cli.args, input: `${host.sim.password}\n` });
  log(`  exported ${vm} to ${dir} in ${run.seconds.toFixed(2)} s (the restores' source, not timed)`);
  return dir;
}

/** Runs a host command line on the simulated host as the benchmark's setup (not timed); throws on failure. */
async function onHost(host: BenchHost, line: string): Promise<string> {
  const r = await host.sim.exec(line);
  if (r.exitCode !== 0) throw new Error(`${line}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout.toString('utf8');
}

/** `vcbmounter restore` of the export under a new name; the restored VM is unregistered and deleted afterwards (not timed). */
async function timedRestore(host: BenchHost, source: string): Promise<RunResult> {
  const name = `bench-restored-${++restoreCounter}`;
  const cli = binCommand(['restore', ...cliConnection(host), '-s', source, '--name', name, '--json']);
  try {
    return await runChild({ command: cli.command, args: cli.args, input: `${host.sim.password}\n` });
  } finally {
    const vm = host.sim.esx.vms().find((v) => v.name === name);
    if (vm) await onHost(host, `vim-cmd vmsvc/unregister ${vm.vmid}`);
    await onHost(host, `rm -rf ${shellQuote(`/vmfs/volumes/${DATASTORE}/${name}`)}`);
  }
}

/** What an admin scripts without vcbmounter: the exported flat file piped over OpenSSH into `cat >` on the datastore. */
async function sshCatOnto(host: BenchHost, flatFile: string): Promise<RunResult> {
  await onHost(host, `mkdir -p ${shellQuote(BASELINE_DIR)}`);
  try {
    const ssh = ['ssh', ...sshArgs(host, [`cat > '${BASELINE_DIR}/copy-flat.vmdk'`])].map(shellQuote).join(' ');
    return await runChild({ command: 'bash', args: ['-c', `set -o pipefail; ${ssh} < ${shellQuote(flatFile)}`] });
  } finally {
    await onHost(host, `rm -rf ${shellQuote(BASELINE_DIR)}`);
  }
}

export async function restoreCases(host: BenchHost, args: BenchArgs, log: Log): Promise<Comparison[]> {
  const size = args.size;
  log(`15. restore of a ${mib(size)} thick disk vs ssh 'cat > flat' < file of the same bytes`);
  const thick = await exportOnce(host, VM.thick, log);
  const thin = await exportOnce(host, VM.thin, log);
  const tiny = await exportOnce(host, VM.tiny, log);
  const thickFlat = join(thick, `${VM.thick}-flat.vmdk`);
  const thinFlat = join(thin, `${VM.thin}-flat.vmdk`);
  try {
    const r15 = await alternate(args.repeat, log, 'restore thick', () => sshCatOnto(host, thickFlat), () => timedRestore(host, thick));
    // Each side's cost beyond the bytes (process start, login; for vcbmounter the catalog check, the listing of
    // VMs at hostd's pace, vmkfstools -c, the .vmx and the register): the same on the 1 MiB disk.
    const fixed = await alternate(1, log, 'restore, 1 MiB disk', () => sshCatOnto(host, join(tiny, `${VM.tiny}-flat.vmdk`)), () => timedRestore(host, tiny));
    const ratio15 = r15.baseline.seconds / r15.subject.seconds;
    const row15: Comparison = {
      title: `restore of a ${mib(size)} thick disk (vcbmounter restore -s EXPORT --name NEW: a thin disk, the .vmx, registered) vs OpenSSH \`cat > flat\` of its exported flat file onto the datastore`,
      subject: { label: 'vcbmounter restore', seconds: r15.subject.seconds, bytes: size },
      baseline: { label: "ssh host 'cat > flat' < file", seconds: r15.baseline.seconds, bytes: size },
      kind: 'rate',
      ratio: ratio15,
      target: 0.9,
      pass: ratio15 >= 0.9,
      notes: [
        dataPhaseNote(r15.subject.seconds, r15.baseline.seconds, size, { subject: fixed.subject.seconds, baseline: fixed.baseline.seconds }),
        'every block of the thick disk is listed in its export, so the restore sends all of it (dd per run of blocks over a few SSH channels); the baseline copies one file on one channel and registers nothing',
      ],
    };

    const written = host.thinWritten[VM.thin]!;
    log(`16. restore of a ${mib(size)} thin disk (${mib(written)} written) vs ssh 'cat > flat' < file of its whole flat file`);
    const r16 = await alternate(args.repeat, log, 'restore thin', () => sshCatOnto(host, thinFlat), () => timedRestore(host, thin));
    const ratio16 = r16.baseline.seconds / r16.subject.seconds;
    const row16: Comparison = {
      title: `restore of a ${mib(size)} thin disk with ${(args.thinFraction * 100).toFixed(0)}% written vs OpenSSH \`cat > flat\` of its full exported flat file onto the datastore`,
      subject: { label: 'vcbmounter restore', seconds: r16.subject.seconds, bytes: written },
      baseline: { label: "ssh host 'cat > flat' < file", seconds: r16.baseline.seconds, bytes: size },
      kind: 'speedup',
      ratio: ratio16,
      target: 5,
      pass: ratio16 >= 5,
      notes: [
        `the restore sends only the ${mib(written)} of listed blocks into a thin disk; the baseline sends the whole ${mib(size)}, zeros included` +
          (r16.subject.seconds - fixed.subject.seconds > 0.05
            ? `; speed-up with each side's fixed cost taken off: ${((r16.baseline.seconds - fixed.baseline.seconds) / (r16.subject.seconds - fixed.subject.seconds)).toFixed(1)}×`
            : ''),
      ],
    };
    return [row15, row16];
  } finally {
    for (const dir of [thick, thin, tiny]) rmSync(dir, { recursive: true, force: true });
  }
}
