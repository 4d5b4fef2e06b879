// Timed runs: a child process under GNU time (wall clock and peak RSS), and a plain in-process read of LUN extents.

import { execFileSync, spawn } from 'node:child_process';
import { openSync, closeSync, fsyncSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';

export interface RunResult {
  seconds: number;
  /** Peak resident set size of the child, bytes (GNU time's %M); undefined when not measured. */
  peakRss?: number;
  /** CPU seconds (user + system) of the child and the children it waited for (GNU time's %U + %S); undefined when not measured. */
  cpuSeconds?: number;
  stdout: string;
  stderr: string;
}

export interface ChildRun {
  command: string;
  args: string[];
  /** Written to the child's stdin, then closed; without it the child's stdin is /dev/null. */
  input?: string;
  /** Send the child's stdout to /dev/null instead of capturing it. */
  discardStdout?: boolean;
  /** Send the child's stdout into this file (created or truncated) and fsync it before the clock stops. */
  stdoutFile?: string;
  /** Where GNU time writes %M; enables peak RSS measurement. */
  rssFile?: string;
  /** Where GNU time writes its figures; enables CPU time measurement (cpuSeconds). */
  cpuFile?: string;
  /** Added to the bench's environment. */
  env?: Record<string, string>;
}

const GNU_TIME = '/usr/bin/time';

/** Runs a child to completion; rejects (with its stderr) on a non-zero exit. */
export async function runChild(run: ChildRun): Promise<RunResult> {
  const timeFile = run.rssFile ?? run.cpuFile;
  const argv = timeFile ? [GNU_TIME, '-f', '%M %U %S', '-o', timeFile, run.command, ...run.args] : [run.command, ...run.args];
  const started = process.hrtime.bigint();
  const stdoutFd = run.stdoutFile ? openSync(run.stdoutFile, 'w', 0o600) : run.discardStdout ? openSync('/dev/null', 'w') : undefined;
  try {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: [run.input === undefined ? 'ignore' : 'pipe', stdoutFd ?? 'pipe', 'pipe'],
      ...(run.env ? { env: { ...process.env, ...run.env } } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    if (child.stdin) {
      // A child that exits without reading its input (a failed login, say) must not crash the bench with EPIPE.
      child.stdin.on('error', () => {});
      child.stdin.end(run.input);
    }
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (exitCode) => resolve(exitCode));
    });
    if (run.stdoutFile) fsyncSync(stdoutFd!);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (code !== 0) {
      const stderr = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-15).join('\n');
      throw new Error(`${run.command} ${run.args.join(' ')} exited with ${code}:\n${stderr}`);
    }
    const result: RunResult = { seconds, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
    if (timeFile) {
      const [rss, user, system] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      if (run.rssFile) result.peakRss = rss! * 1024;
      if (run.cpuFile) result.cpuSeconds = user! + system!;
      rmSync(timeFile, { force: true });
    }
    return result;
  } finally {
    if (stdoutFd !== undefined) closeSync(stdoutFd);
  }
}

export interface LunExtent {
  lunOffset: number;
  length: number;
}

/**
 * Reads the extents in order from the LUN image into one reused buffer and drops the bytes, or, given
 * `copyTo`, also writes them one after another into that file and fsyncs it (a plain copy, no hashing).
 */
export async function readExtents(lunPath: string, extents: readonly LunExtent[], copyTo?: string, chunkSize = 4 * 1024 * 1024): Promise<RunResult> {
  const started = process.hrtime.bigint();
  const handle = await open(lunPath, 'r');
  const out = copyTo ? await open(copyTo, 'w', 0o600) : undefined;
  const buffer = Buffer.allocUnsafe(chunkSize);
  let position = 0;
  try {
    for (const extent of extents) {
      for (let done = 0; done < extent.length; ) {
        const want = Math.min(chunkSize, extent.length - done);
        const { bytesRead } = await handle.read(buffer, 0, want, extent.lunOffset + done);
        if (bytesRead === 0) throw new Error(`${lunPath} ends at ${extent.lunOffset + done}`);
        if (out) await out.write(buffer, 0, bytesRead, position);
        position += bytesRead;
        done += bytesRead;
      }
    }
    await out?.sync();
  } finally {
    await handle.close();
    await out?.close();
    if (copyTo) rmSync(copyTo, { force: true });
  }
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, stdout: '', stderr: '' };
}

/**
 * Writes back and then drops the file's pages from the page cache (fsync, then GNU dd's nocache, which
 * asks the kernel to forget them), so the next read comes from the storage as a SAN LUN's would.
 */
export function dropCachedPages(path: string): void {
  execFileSync('sync', [path]);
  execFileSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
}

/** Bytes of disk blocks a file occupies (stat blocks × 512). */
export async function allocatedOnDisk(path: string): Promise<number> {
  const handle = await open(path, 'r');
  try {
    return (await handle.stat()).blocks * 512;
  } finally {
    await handle.close();
  }
}
