// Starts the disk server process for a -t file run, hands it its configuration on stdin and waits until it serves.

import { openSync, closeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { VcbError } from '../errors.js';
import type { ServeConfig, ServeReady } from './serve-config.js';

const READY_WAIT_MS = 60_000;

/** How this program is started again: the same Node and entry script, with the hidden `serve-disks` command. */
function selfCommand(): [string, string[]] {
  const script = process.argv[1];
  if (!script) throw new VcbError('INTERNAL', 'cannot tell how vcbmounter was started (no script path) to start its disk server');
  return [process.execPath, [...process.execArgv.filter((a) => !a.startsWith('--inspect')), script, 'serve-disks']];
}

export interface StartedServer {
  pid: number;
  /** Epoch ms after the process started: with its pid, what tells it from a later process given the same pid. */
  startedBefore: number;
}

/**
 * Spawns the server detached (it outlives this command: its own session, no terminal), writes the configuration
 * to its stdin, and waits for its ready line. onSpawn gets the pid as soon as there is one (for the journal).
 */
export async function startDiskServer(config: ServeConfig, onSpawn: (pid: number) => void, signal?: AbortSignal): Promise<StartedServer> {
  const [cmd, args] = selfCommand();
  const logFd = openSync(config.logFile, 'a', 0o600);
  // It has its configuration (password included) from stdin: no secret in its environment either.
  const { VCBMOUNTER_PASSWORD: _secret, ...env } = process.env;
  const child = spawn(cmd, args, { detached: true, stdio: ['pipe', 'pipe', logFd], env });
  closeSync(logFd);
  if (child.pid === undefined) throw new VcbError('MOUNT', `cannot start the disk server (${cmd})`);
  onSpawn(child.pid);
  const startedBefore = Date.now() + 1_000;
  child.stdin!.end(JSON.stringify(config));
  const line = await new Promise<ServeReady | { exited: number | null }>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new VcbError('MOUNT', `the disk server did not start serving within ${READY_WAIT_MS / 1000} s (see ${config.logFile})`)), READY_WAIT_MS);
    const onAbort = () => reject(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        done();
        try {
          resolve(JSON.parse(text.slice(0, nl)) as ServeReady);
        } catch {
          reject(new VcbError('MOUNT', `the disk server said something unexpected: ${text.slice(0, 200)}`));
        }
      }
    });
    child.once('exit', (code) => {
      done();
      resolve({ exited: code });
    });
  });
  child.stdout!.destroy();
  child.unref();
  if ('exited' in line) throw new VcbError('MOUNT', `the disk server exited (${line.exited}) before serving (see ${config.logFile})`);
  if (!line.ready) throw new VcbError('MOUNT', `the disk server could not serve the snapshot disks: ${line.error}`);
  return { pid: child.pid, startedBefore };
}
