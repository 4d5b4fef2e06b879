// Command-line flags of `npm run bench`: sizes, quick mode, cache and where the report goes.

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { sizeSchema } from '../../src/sim/inventory.js';

export interface BenchArgs {
  /** Size of the thick disk (nbd/san cases) and of the thin disk (thin case), bytes. */
  size: number;
  /** Sizes of the two thin disks of the memory case, bytes. */
  memorySmall: number;
  memoryLarge: number;
  /**
   * Bytes of files in the guest volumes of the -t file cases (rows 5 to 7): the small one's and the large one's
   * (the throughput case reads the large one).
   */
  volumeSmall: number;
  volumeLarge: number;
  /** Which cases run: the export's (rows 1 to 4, with row 0), -t file's (rows 5 to 7), --stream's (rows 8 to 10), job files' (rows 11 and 12), verify's (rows 13 and 14), restore's (rows 15 and 16), or all. */
  only?: CaseGroup;
  /** Fraction of each thin disk written, in scattered 1 MiB blocks. */
  thinFraction: number;
  /** Timed runs of each side of each comparison; the best is reported. */
  repeat: number;
  quick: boolean;
  /** Keep the built simulator state under os.tmpdir() and reuse it on the next run with the same sizes. */
  cache: boolean;
  /** Write the results into docs/benchmarks.md (default: on for full runs, off with --quick). */
  writeDocs: boolean;
  /**
   * Where the exports and the baselines' copies are written (a directory on another file system than the
   * simulated LUN, as on a backup proxy); default: the bench's work directory, next to the LUN image.
   */
  outDir?: string;
  /** The command line as typed, for the report. */
  command: string;
}

export type CaseGroup = 'export' | 'file' | 'stream' | 'jobs' | 'verify' | 'restore';

export const USAGE = `usage: npm run bench -- [--quick] [--size 4G] [--memory-sizes 1G,8G] [--thin-fraction 0.1]
                        [--volume-sizes 256M,1G] [--only export|file|stream|jobs|verify|restore]
                        [--repeat N] [--cache] [--out-dir DIR] [--write-docs | --no-docs]`;

/** Whether the run measures this group of cases. */
export function runsGroup(args: Pick<BenchArgs, 'only'>, group: CaseGroup): boolean {
  return args.only === undefined || args.only === group;
}

/** Whether the run needs the export cases' disks (the thick disk and the two memory disks): --stream's, verify's and restore's rows read them too. */
export function needsExportDisks(args: Pick<BenchArgs, 'only'>): boolean {
  return runsGroup(args, 'export') || runsGroup(args, 'stream') || runsGroup(args, 'verify') || runsGroup(args, 'restore');
}

function parseSize(flag: string, value: string | undefined): number {
  const parsed = sizeSchema.safeParse(value);
  if (!parsed.success || parsed.data <= 0 || parsed.data % (1024 * 1024) !== 0) {
    throw new Error(`${flag} ${value ?? ''}: expected a size that is a whole number of MiB, e.g. 512M or 2G`);
  }
  return parsed.data;
}

export function parseBenchArgs(argv: string[]): BenchArgs {
  const quick = argv.includes('--quick');
  const mib = 1024 * 1024;
  const args: BenchArgs = {
    size: quick ? 256 * mib : 4096 * mib,
    memorySmall: quick ? 128 * mib : 1024 * mib,
    memoryLarge: quick ? 1024 * mib : 8192 * mib,
    volumeSmall: quick ? 64 * mib : 256 * mib,
    volumeLarge: quick ? 256 * mib : 1024 * mib,
    thinFraction: 0.1,
    repeat: quick ? 1 : 2,
    quick,
    cache: false,
    writeDocs: !quick,
    command: ['npm run bench', ...(argv.length ? ['--', ...argv] : [])].join(' '),
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string | undefined => argv[++i];
    switch (flag) {
      case '--quick':
        break;
      case '--size':
        args.size = parseSize(flag, value());
        break;
      case '--memory-sizes': {
        const [small, large] = (value() ?? '').split(',');
        args.memorySmall = parseSize(flag, small);
        args.memoryLarge = parseSize(flag, large);
        break;
      }
      case '--volume-sizes': {
        const [small, large] = (value() ?? '').split(',');
        args.volumeSmall = parseSize(flag, small);
        args.volumeLarge = parseSize(flag, large);
        break;
      }
      case '--only': {
        const group = value();
        if (group !== 'export' && group !== 'file' && group !== 'stream' && group !== 'jobs' && group !== 'verify' && group !== 'restore') {
          throw new Error(`--only ${group ?? ''}: expected export (rows 1 to 4), file (rows 5 to 7), stream (rows 8 to 10), jobs (rows 11 and 12), verify (rows 13 and 14) or restore (rows 15 and 16)`);
        }
        args.only = group;
        break;
      }
      case '--thin-fraction': {
        const f = Number(value());
        if (!(f > 0 && f < 1)) throw new Error(`--thin-fraction: expected a number between 0 and 1`);
        args.thinFraction = f;
        break;
      }
      case '--repeat': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1) throw new Error(`--repeat: expected a whole number of at least 1`);
        args.repeat = n;
        break;
      }
      case '--cache':
        args.cache = true;
        break;
      case '--out-dir': {
        const dir = value();
        if (!dir || !existsSync(dir) || !statSync(dir).isDirectory()) {
          throw new Error(`--out-dir ${dir ?? ''}: expected an existing directory for the exports, e.g. /dev/shm`);
        }
        args.outDir = resolve(dir);
        break;
      }
      case '--write-docs':
        args.writeDocs = true;
        break;
      case '--no-docs':
        args.writeDocs = false;
        break;
      default:
        throw new Error(`unknown flag ${flag}\n${USAGE}`);
    }
  }
  return args;
}
