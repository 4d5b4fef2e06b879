// The simulated ESX host as one object: datastores, VMs, shell, faults and the SSH server, started in-process.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FaultEngine, loadFaultFile, type FaultRule } from './faults.js';
import { SimHost } from './esx/host.js';
import { withHostdTiming } from './esx/hostd-timing.js';
import { vimCmd } from './esx/commands/vim-cmd.js';
import { vmwareCmd } from './esx/commands/vmware-cmd.js';
import { vmkfstools, vmwareVersion } from './esx/commands/vmkfstools.js';
import { loadInventory, type Inventory } from './inventory.js';
import { posixCommands } from './posix/index.js';
import { runCommandLine } from './shell/interp.js';
import type { CommandRecord, CommandTable } from './shell/types.js';
import { loadOrCreateHostKey } from './host-key.js';
import { startSshServer, type AuthAttempt, type SshServerHandle } from './ssh-server.js';
import { sshdPolicyFor } from './sshd-policy.js';
import { lineFor, startCommandBridge, type CommandBridge } from './bridge/server.js';
import { openVfs } from './vmfs/index.js';

export interface SimulatorOptions {
  /** Where the LUN images and host state live; reused when it already holds a host. Default: a new temp dir, removed on stop. */
  stateDir?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** 'demo' (default), a path to an inventory JSON file, or an inventory object. */
  inventory?: 'demo' | string | Inventory;
  /** Fault rules, or a path to a fault file. */
  faults?: FaultRule[] | string;
  /** root's password; default: random, kept in the state dir. */
  password?: string;
  /** OpenSSH public key lines accepted for root. */
  authorizedKeys?: string[];
  /** Directory of guest image fixtures (default: the package's fixtures/guests). */
  fixturesDir?: string;
  /**
   * Aborts the start: checked between its steps (building the datastores and VMs is one step), after
   * yielding to the event loop so that signal handlers run. An aborted or failed start stops what it
   * started, removes the state dir if it created it (never a given stateDir), and rejects.
   */
  signal?: AbortSignal;
}

/** What `vcbmounter sim` prints once ready, and what a client needs to connect. */
export interface SimulatorEndpoint {
  host: string;
  port: number;
  username: string;
  password: string;
  fingerprint: string;
}

export interface Simulator extends SimulatorEndpoint {
  readonly stateDir: string;
  readonly esx: SimHost;
  readonly faults: FaultEngine;
  /** Every simple command run over SSH, in order. */
  readonly commandLog: CommandRecord[];
  /** Every login attempt (user, method, outcome), in order: what counts toward a real host's lockout. */
  readonly authAttempts: AuthAttempt[];
  /**
   * Serves the host's commands over a Unix socket for a real sh to run (see sim/bridge/): each connection runs one argv
   * with the faults and command log of an SSH exec. Names are the commands a host-side PATH should offer.
   */
  openCommandBridge(socketPath: string): Promise<CommandBridge & { commandNames: string[] }>;
  /** Runs a command line as an SSH exec would (for tests and the in-process demo). */
  exec(line: string, stdin?: string | Buffer): Promise<{ stdout: Buffer; stderr: string; exitCode: number }>;
  endpoint(): SimulatorEndpoint;
  stop(): Promise<void>;
}

export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

function readOrCreatePassword(stateDir: string, given?: string): string {
  const file = join(stateDir, 'root-password');
  if (given !== undefined) {
    writeFileSync(file, given, { mode: 0o600 });
    return given;
  }
  if (existsSync(file)) return readFileSync(file, 'utf8');
  const pw = randomBytes(12).toString('base64url');
  writeFileSync(file, pw, { mode: 0o600 });
  return pw;
}

export function commandTable(host: SimHost): CommandTable {
  const table = posixCommands({ hostname: host.hostname, release: host.version });
  const timing = host.timing;
  if (host.kind === 'esxi') {
    table.set('vim-cmd', withHostdTiming(vimCmd(host), host, timing));
    table.set('vmware-vim-cmd', withHostdTiming(vimCmd(host), host, timing));
  } else {
    table.set('vmware-cmd', withHostdTiming(vmwareCmd(host), host, timing));
  }
  table.set('vmkfstools', vmkfstools(host.vfs, () => host.snapshotDeltaMaps));
  table.set('vmware', vmwareVersion(host.version));
  return table;
}

/** Lets pending events (a signal's handler) run, then throws if the start was aborted. */
async function checkpoint(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return;
  await new Promise<void>((resolve) => setImmediate(resolve));
  signal.throwIfAborted();
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const ownDir = opts.stateDir === undefined;
  opts.signal?.throwIfAborted();
  const stateDir = resolve(opts.stateDir ?? mkdtempSync(join(tmpdir(), 'vcbmounter-sim-')));
  const started: Started = {};
  try {
    return await startIn(stateDir, ownDir, opts, started);
  } catch (e) {
    await started.server?.close().catch(() => {});
    started.esx?.stop();
    if (ownDir) rmSync(stateDir, { recursive: true, force: true });
    throw e;
  }
}

/** What a start has brought up so far, for the cleanup of a start that fails or is aborted. */
interface Started {
  esx?: SimHost;
  server?: SshServerHandle;
}

async function startIn(stateDir: string, ownDir: boolean, opts: SimulatorOptions, started: Started): Promise<Simulator> {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const inventory = typeof opts.inventory === 'object' ? opts.inventory : loadInventory(opts.inventory ?? 'demo');
  const vfs = openVfs({
    stateDir: join(stateDir, 'vmfs'),
    seed: inventory.seed,
    datastores: inventory.datastores.map((d) => ({ name: d.name, capacity: d.capacity, blockSize: d.blockSize, uuid: d.uuid, partitionTable: d.partitionTable, spanAt: d.spanAt })),
  });
  await checkpoint(opts.signal);
  const esx = await SimHost.open({ stateDir, inventory, vfs, fixturesDir: opts.fixturesDir ?? join(packageRoot(), 'fixtures', 'guests') });
  started.esx = esx;
  await checkpoint(opts.signal);
  const faults = new FaultEngine(typeof opts.faults === 'string' ? loadFaultFile(opts.faults) : (opts.faults ?? []));
  const commands = commandTable(esx);
  const commandLog: CommandRecord[] = [];
  const password = readOrCreatePassword(stateDir, opts.password);
  const key = loadOrCreateHostKey(join(stateDir, 'ssh_host_ed25519_key'));
  const env = { PATH: '/bin:/sbin:/usr/bin:/usr/sbin', HOME: '/', SHELL: '/bin/sh', USER: 'root' };
  const lifetime = new AbortController();
  const detached = new Set<Promise<unknown>>();
  const host = {
    signal: lifetime.signal,
    track(task: Promise<unknown>) {
      detached.add(task);
      void task.finally(() => detached.delete(task));
    },
  };

  const authAttempts: AuthAttempt[] = [];
  const server = await startSshServer({
    port: opts.port ?? 0,
    policy: sshdPolicyFor(inventory.host),
    onAuth: (attempt) => authAttempts.push(attempt),
    hostKey: key.privateKey,
    users: { username: 'root', password, authorizedKeys: opts.authorizedKeys ?? [] },
    exec: (line, io) =>
      runCommandLine(line, {
        commands,
        vfs,
        env,
        stdin: io.stdin,
        stdout: io.stdout,
        stderr: io.stderr,
        signal: io.signal,
        session: io.session,
        faults,
        log: (r) => commandLog.push(r),
        onDrop: io.drop,
        host,
      }),
  });
  started.server = server;
  await checkpoint(opts.signal);

  const endpoint = (): SimulatorEndpoint => ({ host: '127.0.0.1', port: server.port, username: 'root', password, fingerprint: key.fingerprint });
  let stopped = false;
  const sim: Simulator = {
    ...endpoint(),
    stateDir,
    esx,
    faults,
    commandLog,
    authAttempts,
    endpoint,
    async openCommandBridge(socketPath) {
      let bridgeSession = 1_000_000;
      const bridge = await startCommandBridge(socketPath, (argv, io) =>
        runCommandLine(lineFor(argv), {
          commands,
          vfs,
          env,
          cwd: io.cwd,
          stdin: io.stdin,
          stdout: io.stdout,
          stderr: io.stderr,
          signal: io.signal,
          session: bridgeSession++,
          faults,
          log: (r) => commandLog.push(r),
          host,
        }),
      );
      return { ...bridge, commandNames: [...commands.keys()] };
    },
    async exec(line, stdin) {
      const { PassThrough, Readable } = await import('node:stream');
      const out = new PassThrough();
      const err = new PassThrough();
      const chunks: Buffer[] = [];
      const errs: Buffer[] = [];
      out.on('data', (c: Buffer) => chunks.push(c));
      err.on('data', (c: Buffer) => errs.push(c));
      const exitCode = await runCommandLine(line, {
        commands,
        vfs,
        env,
        stdin: Readable.from(stdin === undefined ? [] : [Buffer.from(stdin)]),
        stdout: out,
        stderr: err,
        signal: new AbortController().signal,
        session: 0,
        log: (r) => commandLog.push(r),
        host,
      });
      return { stdout: Buffer.concat(chunks), stderr: Buffer.concat(errs).toString('utf8'), exitCode };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // Late commands still waiting are abandoned; one already running stops like any aborted command.
      lifetime.abort();
      await server.close();
      await Promise.allSettled([...detached]);
      esx.stop();
      if (ownDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return sim;
}
