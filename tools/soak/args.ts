// Command line of the soak run (scripts/soak): cycles, seed and where to work.

export interface SoakArgs {
  cycles: number;
  seed: number;
  /** The seed was given (else it was drawn and is printed, so the run can be repeated). */
  seedGiven: boolean;
  keep: boolean;
  workDir?: string;
  planOnly: boolean;
  help: boolean;
}

export const HELP = `Usage: scripts/soak N [--seed S] [--keep] [--work-dir DIR] [--plan]

Runs N backup cycles of small VMs against one simulated ESXi host started in this process, with the real
vcbmounter bin as a child process, real SSH and real files. Each cycle backs up one VM (chosen with a
generator seeded by --seed) with either no fault (about a third of the cycles), a fault on one host command
the backup runs (fail, hang, dropped connection, full datastore, late answer), or a signal at a chosen moment
(SIGINT, SIGTERM, SIGKILL; after a SIGKILL either "vcbmounter cleanup" runs at once or the VM's next backup
recovers it). Sometimes an existing backup is replaced with --preexisting-mountpoint delete.

After each cycle it checks the run's exit code against the injected cause (exit-codes.md), verifies a backup
that exited 0 against its catalog and with qemu-img check, and checks that nothing was left behind. At the
end it runs "vcbmounter cleanup" and counts leaks: _VCB-BACKUP_ snapshots, changed user snapshots, lock
files, open journals, partial or old directories, temp files, live vcbmounter processes, guests left frozen.

Options:
  N               number of cycles (a cycle takes about 1 to 2 s; hang and late faults up to ~10 s)
  --seed S        seed of the choices (an integer; default: drawn from the clock and printed).
                  The same seed gives the same sequence of VMs, faults, signals and flags.
  --keep          keep the work directory (simulated host, state dir, backups) at the end
  --work-dir DIR  work in DIR (created; default: a new directory under $TMPDIR)
  --plan          print each cycle's plan and exit, without starting anything
  -h, --help      this text

Output: one line per cycle on stderr (cycle, VM, cause, exit code, seconds); unexpected outcomes on stderr
with the cycle's seed and the CLI's message. The last line on stdout is
  soak: N cycles, C completed, F failed as injected, L leaked
Exit status: 0 when no cycle had an unexpected outcome and nothing leaked; 1 otherwise; 2 on bad usage.`;

export function parseSoakArgs(argv: readonly string[]): SoakArgs {
  const out: SoakArgs = { cycles: NaN, seed: 0, seedGiven: false, keep: false, planOnly: false, help: false };
  const rest = [...argv];
  while (rest.length) {
    const a = rest.shift()!;
    const value = (flag: string) => {
      const v = rest.shift();
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (a === '-h' || a === '--help') out.help = true;
    else if (a === '--keep') out.keep = true;
    else if (a === '--plan') out.planOnly = true;
    else if (a === '--work-dir') out.workDir = value(a);
    else if (a.startsWith('--work-dir=')) out.workDir = a.slice('--work-dir='.length);
    else if (a === '--seed' || a.startsWith('--seed=')) {
      const v = a === '--seed' ? value(a) : a.slice('--seed='.length);
      if (!/^-?\d+$/.test(v)) throw new Error(`--seed takes an integer, not "${v}"`);
      out.seed = Number(v) >>> 0;
      out.seedGiven = true;
    } else if (/^\d+$/.test(a) && Number.isNaN(out.cycles)) out.cycles = Number(a);
    else throw new Error(`unexpected argument "${a}"`);
  }
  if (out.help) return out;
  if (!Number.isInteger(out.cycles) || out.cycles < 1) throw new Error('give the number of cycles, e.g. scripts/soak 20 --seed 1');
  if (!out.seedGiven) out.seed = (Date.now() ^ (process.pid << 16)) >>> 0;
  return out;
}
