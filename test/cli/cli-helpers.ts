// Helpers for the CLI's end-to-end tests: a simulator with a small inventory and the built vcbmounter run as a child process.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import type { Inventory } from '../../src/sim/inventory.js';
import { parseCatalog, type Catalog } from '../../src/export/catalog.js';
import { binCommand } from '../../tools/test-support/bin-command.js';

export const BIN = resolve(import.meta.dirname, '../../bin/vcbmounter.js');
export const SNAPSHOT_NAME = '_VCB-BACKUP_';

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface Bench {
  sim: Simulator;
  /** A temp dir for this bench: state dir, outputs, password files. */
  work: string;
  stateDir: string;
  /** Runs the CLI against the simulator; the password goes in on stdin (-p -) unless the args name another source. */
  cli(args: string[], opts?: CliOptions): Promise<CliResult>;
  stop(): Promise<void>;
}

export interface CliOptions {
  /** 'stdin' (default): -p - with the password on stdin; 'none': no password flag at all. */
  password?: 'stdin' | 'none';
  input?: string;
  env?: Record<string, string>;
  /** Leave out --host-key (to test known_hosts). */
  noHostKey?: boolean;
  /** Leave out everything but the given args (e.g. -U). */
  bare?: boolean;
  /** The CLI's working directory (default: the test's). */
  cwd?: string;
}

export async function startBench(inventory: Inventory, opts: { password?: string; fixturesDir?: string } = {}): Promise<Bench> {
  const work = mkdtempSync(join(tmpdir(), 'vcb-cli-'));
  const sim = await startSimulator({ inventory, password: opts.password, ...(opts.fixturesDir ? { fixturesDir: opts.fixturesDir } : {}) });
  const stateDir = join(work, 'state');
  const cli = async (args: string[], o: CliOptions = {}): Promise<CliResult> => {
    const pw = o.password ?? 'stdin';
    const base = o.bare
      ? []
      : [
          '-h', '127.0.0.1',
          '--port', String(sim.port),
          '-u', 'root',
          ...(o.noHostKey ? [] : ['--host-key', sim.fingerprint]),
          '--state-dir', stateDir,
          ...(pw === 'stdin' ? ['-p', '-'] : []),
        ];
    const run = binCommand([...base, ...args]);
    const r = await execa(run.command, run.args, {
      reject: false,
      input: o.input ?? (pw === 'stdin' && !o.bare ? `${sim.password}\n` : ''),
      env: { VCBMOUNTER_PASSWORD: '', ...o.env },
      extendEnv: true,
      stripFinalNewline: false,
      ...(o.cwd ? { cwd: o.cwd } : {}),
    });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  return {
    sim,
    work,
    stateDir,
    cli,
    async stop() {
      await sim.stop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

export function readCatalog(dir: string): Catalog {
  return parseCatalog(readFileSync(join(dir, 'catalog'), 'utf8'));
}

/** A file only its owner can read, holding text. */
export function privateFile(dir: string, name: string, text: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, text, { mode });
  return p;
}
