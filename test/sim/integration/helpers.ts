// Shared helpers for the simulator's end-to-end tests: small inventories, a real OpenSSH client, waiting on guest progress.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseInventory, type Inventory } from '../../../src/sim/inventory.js';
import type { GuestEvent } from '../../../src/sim/guest/guest.js';
import type { Simulator } from '../../../src/sim/simulator.js';

export const DATASTORE = 'ds1';

/** A guest that writes often and flushes quickly, so tests see progress within milliseconds. */
export const FAST_GUEST = { writesPerSecond: 200, flushIntervalMs: 20, seed: 5 };

/** One small datastore and the given VMs. */
export function smallInventory(vms: Array<Record<string, unknown>>, host: Record<string, unknown> = {}): Inventory {
  return parseInventory({ host, datastores: [{ name: DATASTORE, capacity: '512M' }], vms, seed: 11 });
}

export interface ProcessResult {
  stdout: Buffer;
  stderr: string;
  code: number | null;
}

/** Runs a local program to completion, collecting its output. */
export function run(cmd: string, args: string[], opts: { input?: string } = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), code }));
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(opts.input);
    }
  });
}

export interface ClientKey {
  dir: string;
  identity: string;
  publicKey: string;
  cleanup(): void;
}

/** A fresh ed25519 client key pair made by ssh-keygen. */
export async function makeClientKey(): Promise<ClientKey> {
  const dir = mkdtempSync(join(tmpdir(), 'sim-e2e-key-'));
  const identity = join(dir, 'id_ed25519');
  const r = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'e2e-test', '-f', identity]);
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  return { dir, identity, publicKey: readFileSync(`${identity}.pub`, 'utf8').trim(), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The simulator's host public key as OpenSSH derives it from the key file in the state dir. */
export async function hostPublicKey(stateDir: string): Promise<string> {
  const r = await run('ssh-keygen', ['-y', '-f', join(stateDir, 'ssh_host_ed25519_key')]);
  if (r.code !== 0) throw new Error(`ssh-keygen -y failed: ${r.stderr}`);
  return r.stdout.toString('utf8').trim();
}

export interface OpenSsh {
  knownHosts: string;
  /** Runs one command line on the simulated host with the system's `ssh` (public key, strict host key checking). */
  run(line: string): Promise<ProcessResult>;
  /** Like run, but rejects unless the exit status is 0. */
  ok(line: string): Promise<string>;
}

/** An OpenSSH client for sim, trusting exactly the host key found in the simulator's state dir. */
export async function openSsh(sim: Simulator, key: ClientKey): Promise<OpenSsh> {
  const knownHosts = join(key.dir, `known_hosts_${sim.port}`);
  writeFileSync(knownHosts, `[127.0.0.1]:${sim.port} ${await hostPublicKey(sim.stateDir)}\n`);
  const options = [
    '-F', '/dev/null',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'PasswordAuthentication=no',
    '-o', 'LogLevel=ERROR',
    '-i', key.identity,
    '-p', String(sim.port),
  ];
  const runLine = (line: string) => run('ssh', [...options, 'root@127.0.0.1', line]);
  return {
    knownHosts,
    run: runLine,
    async ok(line) {
      const r = await runLine(line);
      if (r.code !== 0) throw new Error(`ssh "${line}" exited ${r.code}: ${r.stderr}${r.stdout.toString('utf8')}`);
      return r.stdout.toString('utf8');
    },
  };
}

/** Polls until cond holds; the limit only guards against a hang, tests never assert on time. */
export async function waitUntil(cond: () => boolean, what: string, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function appliesSince(events: readonly GuestEvent[], from: number): number {
  let n = 0;
  for (let i = from; i < events.length; i++) if (events[i]!.ev === 'apply') n++;
  return n;
}

/** Index of the first marker `what` at or after `from`; -1 when absent. */
export function markerIndex(events: readonly GuestEvent[], what: string, from = 0): number {
  for (let i = from; i < events.length; i++) {
    const e = events[i]!;
    if (e.ev === 'marker' && e.what === what) return i;
  }
  return -1;
}
