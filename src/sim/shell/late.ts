// The `late` fault's plumbing: a host command that keeps running after its client gave up, with its output going nowhere.

import { Writable, type Readable } from 'node:stream';
import { emptyReadable, endWritable, sleepAbortable } from '../posix/streams.js';

/** What outlives one SSH channel: the simulator's own lifetime, and a place to register work that must settle before it stops. */
export interface HostLifetime {
  /** Aborted when the simulator stops: a late command still pending then is abandoned. */
  signal: AbortSignal;
  /** Registers a detached task so stop() can wait for it to settle. */
  track(task: Promise<unknown>): void;
}

export interface StdFds {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

/**
 * A writable that hands each write to `target` while the client still listens, and swallows it once `gone`
 * aborts (or the target is closed): hostd finishes a task whether or not anybody reads its answer, so a write
 * into a dead channel must not fail the command half-way.
 */
export function detachableWritable(target: Writable, gone: AbortSignal): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (gone.aborted || target.destroyed || target.writableEnded) return callback();
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        gone.removeEventListener('abort', finish);
        target.off('close', finish);
        callback();
      };
      gone.addEventListener('abort', finish, { once: true });
      target.once('close', finish);
      // An error here means the reader is gone: nobody is listening, so the data is dropped like any other.
      target.write(chunk, () => finish());
    },
    // The target belongs to the caller (the channel, a pipe): ending this wrapper must not end it.
    final(callback) {
      callback();
    },
  });
}

/**
 * The descriptors a late command runs with: those the client gave (not files the command line redirected to)
 * become detachable. Stdin is the client's only while the client is still there when the command starts;
 * a command started after the client left reads end of input at once.
 */
export function detachFds(fds: StdFds, fromClient: ReadonlySet<unknown>, gone: AbortSignal): { fds: StdFds; wrappers: Writable[] } {
  const wrappers: Writable[] = [];
  const wrap = (w: Writable): Writable => {
    if (!fromClient.has(w)) return w;
    const wrapped = detachableWritable(w, gone);
    wrappers.push(wrapped);
    return wrapped;
  };
  const stdin = fromClient.has(fds.stdin) && gone.aborted ? emptyReadable() : fds.stdin;
  return { fds: { stdin, stdout: wrap(fds.stdout), stderr: wrap(fds.stderr) }, wrappers };
}

/** One command a `late` rule fired on, and how the interpreter runs and logs it. */
export interface LateCommand {
  delayMs: number;
  /** What the command log records in `fault`. */
  fault: string;
  /** Without it a late command is never abandoned (nothing stops the simulator under it). */
  host: HostLifetime | undefined;
  /** The descriptors the command line got from the client (not redirected files). */
  client: StdFds;
  /** The command's descriptors after its redirections, and how to close the files they opened. */
  opened: { fds: StdFds; close: () => Promise<void> };
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  /** What the client's side of the line returns when it gave up. */
  killedStatus: number;
  execute(fds: StdFds, hostSignal: AbortSignal): Promise<number>;
  log(exitCode: number, fault: string): void;
}

/**
 * The `late` fault: no answer for delayMs, then the command runs to completion on the host whatever the
 * client did meanwhile (timed out, closed the channel, dropped the connection). The client's wait ends at
 * whichever comes first: the command's status, or the client going away. The record is logged when the
 * command ends on the host, with the status it really had.
 */
export async function runLate(cmd: LateCommand): Promise<number> {
  const host: HostLifetime = cmd.host ?? { signal: new AbortController().signal, track: () => {} };
  const fromClient = new Set<unknown>([cmd.client.stdin, cmd.client.stdout, cmd.client.stderr]);
  const onHost = async (): Promise<number> => {
    let exitCode = cmd.killedStatus;
    try {
      await sleepAbortable(cmd.delayMs, host.signal);
      const { fds, wrappers } = detachFds(cmd.opened.fds, fromClient, cmd.signal);
      exitCode = await cmd.execute(fds, host.signal);
      await Promise.all(wrappers.map(endWritable));
    } catch {
      // Only the sleep throws: the simulator stopped before the host got to the command.
    } finally {
      await cmd.opened.close();
    }
    cmd.log(exitCode, cmd.fault);
    return exitCode;
  };
  const task = onHost();
  host.track(task);
  const clientGone = whenAborted(cmd.signal, cmd.killedStatus);
  try {
    return await Promise.race([task, clientGone.promise]);
  } finally {
    clientGone.cancel();
  }
}

/** Resolves to `value` once the signal aborts (at once if it already has); cancel() drops the listener. */
export function whenAborted<T>(signal: AbortSignal, value: T): { promise: Promise<T>; cancel: () => void } {
  let onAbort = () => {};
  const promise = new Promise<T>((resolve) => {
    onAbort = () => resolve(value);
    if (signal.aborted) resolve(value);
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return { promise, cancel: () => signal.removeEventListener('abort', onAbort) };
}
