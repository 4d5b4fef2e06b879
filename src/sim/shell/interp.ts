// Interpreter for the simulated host's sh: runs parsed command lines against the Vfs and a table of commands.

import { PassThrough, type Readable, type Writable } from 'node:stream';
import { posix } from 'node:path';
import type { Vfs } from '../vmfs/types.js';
import type { CommandIO, CommandRecord, CommandTable } from './types.js';
import type { FaultDecision, FaultEngine } from '../faults.js';
import { parseCommandLine } from './parse.js';
import { ShellSyntaxError, type Command, type List, type Pipeline, type SimpleCommand, type WhileLoop } from './syntax.js';
import { expandWord, expandWordToString, type ExpandContext } from './expand.js';
import { builtins, type ShellState } from './builtins.js';
import { throttledWritable } from './throttle.js';
import { errorText, resolvePath } from '../posix/paths.js';
import { runLate, type HostLifetime } from './late.js';
import { emptyReadable, endWritable, fileReadable, fileWritable, isStreamStop, nullWritable, sleepAbortable, writeChunk } from '../posix/streams.js';

export interface ShellContext {
  commands: CommandTable;
  vfs: Vfs;
  env: Record<string, string>;
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** Aborted when the channel closes; running commands stop and the line ends. */
  signal: AbortSignal;
  session: number;
  /** Working directory the line starts in; default "/". */
  cwd?: string;
  faults?: FaultEngine;
  log?: (record: CommandRecord) => void;
  /** Called when a drop fault fires: the server cuts the connection without an exit status. */
  onDrop?: () => void;
  /** Outlives the channel; a `late` command runs under it. Without it a late command is never abandoned. */
  host?: HostLifetime;
}

interface Fds {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

/** Exit status used when a command is stopped because its session ended or a drop fault cut it. */
const KILLED_STATUS = 129;

/** Parses and runs one command line; resolves to its exit status (2 for syntax errors, 127 for unknown commands). */
export async function runCommandLine(line: string, ctx: ShellContext): Promise<number> {
  let list: List;
  try {
    list = parseCommandLine(line);
  } catch (err) {
    if (!(err instanceof ShellSyntaxError)) throw err;
    const what = err.kind === 'unsupported' ? `unsupported syntax: ${err.message}` : `syntax error: ${err.message}`;
    await writeChunk(ctx.stderr, `sh: ${what}\n`, ctx.signal).catch(() => {});
    return 2;
  }
  const state: ShellState = { vars: { ...ctx.env }, cwd: ctx.cwd ?? '/', status: 0, dropped: false };
  const status = await new Interpreter(ctx).runList(list, state, ctx, ctx.signal);
  return state.exit ?? status;
}

class Interpreter {
  constructor(private readonly ctx: ShellContext) {}

  async runList(list: List, state: ShellState, fds: Fds, signal: AbortSignal): Promise<number> {
    const background: Promise<number>[] = [];
    for (const andOr of list) {
      if (andOr.background) {
        // As sh without job control: started, not waited for, stdin from /dev/null, status 0. Its output still
        // goes to the line's stdout, so the line (like an SSH channel held open by the job) ends when it does.
        background.push(this.runAndOr(andOr, { ...state, vars: { ...state.vars } }, { ...fds, stdin: emptyReadable() }, signal));
        state.status = 0;
      } else {
        state.status = await this.runAndOr(andOr, state, fds, signal);
      }
      if (this.stopped(state, signal)) break;
    }
    await Promise.allSettled(background);
    return state.status;
  }

  private async runAndOr(andOr: List[number], state: ShellState, fds: Fds, signal: AbortSignal): Promise<number> {
    let status = await this.runPipeline(andOr.first, state, fds, signal);
    for (const { op, pipeline } of andOr.rest) {
      if (this.stopped(state, signal)) break;
      // `a || exit $?`: $? is a's status within the list too.
      state.status = status;
      if ((op === '&&') === (status === 0)) status = await this.runPipeline(pipeline, state, fds, signal);
    }
    return status;
  }

  private stopped(state: ShellState, signal: AbortSignal): boolean {
    return state.exit !== undefined || state.dropped || signal.aborted;
  }

  private async runPipeline(pipeline: Pipeline, state: ShellState, fds: Fds, signal: AbortSignal): Promise<number> {
    const { commands } = pipeline;
    if (commands.length === 1) return this.runCommand(commands[0]!, state, fds, signal);
    const pipes = commands.slice(1).map(() => {
      const pipe = new PassThrough();
      pipe.on('error', () => {});
      return pipe;
    });
    const controllers = commands.map(() => new AbortController());
    const onAbort = () => controllers.forEach((c) => c.abort());
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const statuses = await Promise.all(
        commands.map(async (command, i) => {
          const io: Fds = {
            stdin: i === 0 ? fds.stdin : pipes[i - 1]!,
            stdout: i === commands.length - 1 ? fds.stdout : pipes[i]!,
            stderr: fds.stderr,
          };
          const status = await this.runCommand(command, { ...state }, io, controllers[i]!.signal);
          if (i < commands.length - 1) pipes[i]!.end();
          if (i > 0) {
            // Like SIGPIPE: once a reader is gone, the commands feeding it stop.
            pipes[i - 1]!.destroy();
            for (let j = 0; j < i; j++) controllers[j]!.abort();
          }
          return status;
        }),
      );
      return statuses[statuses.length - 1]!;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private runCommand(command: Command, state: ShellState, fds: Fds, signal: AbortSignal): Promise<number> {
    return command.kind === 'while' ? this.runWhile(command, state, fds, signal) : this.runSimple(command, state, fds, signal);
  }

  /** Runs the body while the condition's status is 0; the status is the body's last (0 if it never ran). */
  private async runWhile(loop: WhileLoop, state: ShellState, fds: Fds, signal: AbortSignal): Promise<number> {
    const substituted = { status: 0 };
    const expand = this.expandContext(state, fds, signal, substituted);
    const opened = await this.openRedirects(loop, state, fds, expand, signal);
    if (typeof opened === 'number') return opened;
    let status = 0;
    try {
      for (;;) {
        // A loop of builtins alone never waits on I/O: yield so the channel's close (the host's SIGHUP) is heard.
        await new Promise((resolve) => setImmediate(resolve));
        const condition = await this.runList(loop.condition, state, opened.fds, signal);
        if (this.stopped(state, signal)) return state.dropped || signal.aborted ? KILLED_STATUS : condition;
        if (condition !== 0) break;
        status = await this.runList(loop.body, state, opened.fds, signal);
        if (this.stopped(state, signal)) return state.dropped || signal.aborted ? KILLED_STATUS : status;
      }
    } finally {
      await opened.close();
    }
    return status;
  }

  private expandContext(state: ShellState, fds: Fds, signal: AbortSignal, substituted: { status: number }): ExpandContext {
    return {
      vfs: this.ctx.vfs,
      cwd: state.cwd,
      lookup: (name) => this.lookup(name, state),
      substitute: async (list) => {
        const out = new PassThrough();
        const chunks: Buffer[] = [];
        out.on('data', (chunk: Buffer) => chunks.push(chunk));
        const sub: ShellState = { vars: { ...state.vars }, cwd: state.cwd, status: state.status, dropped: false };
        const status = await this.runList(list, sub, { stdin: emptyReadable(), stdout: out, stderr: fds.stderr }, signal);
        if (sub.dropped) state.dropped = true;
        substituted.status = sub.exit ?? status;
        out.end();
        return Buffer.concat(chunks).toString('utf8');
      },
    };
  }

  private lookup(name: string, state: ShellState): string | undefined {
    if (name === '?') return String(state.status);
    if (name === '$') return String(1000 + this.ctx.session);
    if (name === '#') return '0';
    if (name === '0') return 'sh';
    if (/^\d+$/.test(name)) return '';
    return state.vars[name];
  }

  private async runSimple(command: SimpleCommand, state: ShellState, fds: Fds, signal: AbortSignal): Promise<number> {
    const substituted = { status: 0 };
    const expand = this.expandContext(state, fds, signal, substituted);
    const assigned: Record<string, string> = {};
    for (const { name, value } of command.assignments) assigned[name] = await expandWordToString(value, expand);
    const argv: string[] = [];
    for (const word of command.words) argv.push(...(await expandWord(word, expand)));
    if (state.dropped || signal.aborted) return KILLED_STATUS;

    const opened = await this.openRedirects(command, state, fds, expand, signal);
    if (typeof opened === 'number') return opened;
    if (argv.length === 0) {
      Object.assign(state.vars, assigned);
      await opened.close();
      return substituted.status;
    }

    const startedAt = Date.now();
    const decision = this.ctx.faults?.decide(argv, this.ctx.session);
    if (decision?.action === 'late') {
      return runLate({
        delayMs: decision.rule.delayMs ?? 0,
        fault: `late (rule ${decision.ruleIndex})`,
        host: this.ctx.host,
        client: fds,
        opened,
        signal,
        killedStatus: KILLED_STATUS,
        execute: (io, hostSignal) => this.execute(argv, state, io, assigned, hostSignal),
        log: (exitCode, fault) => this.ctx.log?.({ session: this.ctx.session, argv, exitCode, startedAt, endedAt: Date.now(), fault }),
      });
    }
    let exitCode: number;
    try {
      exitCode = await this.runWithFault(decision, argv, state, opened.fds, assigned, signal);
    } finally {
      await opened.close();
    }
    this.ctx.log?.({
      session: this.ctx.session,
      argv,
      exitCode,
      startedAt,
      endedAt: Date.now(),
      ...(decision ? { fault: `${decision.action} (rule ${decision.ruleIndex})` } : {}),
    });
    return exitCode;
  }

  private async runWithFault(decision: FaultDecision | undefined, argv: string[], state: ShellState, fds: Fds, assigned: Record<string, string>, signal: AbortSignal): Promise<number> {
    const rule = decision?.rule;
    switch (decision?.action) {
      case 'fail':
        if (rule!.stderr) await writeChunk(fds.stderr, rule!.stderr.endsWith('\n') ? rule!.stderr : `${rule!.stderr}\n`, signal).catch(() => {});
        return rule!.exitCode ?? 1;
      case 'hang':
        await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
        return KILLED_STATUS;
      case 'drop':
        state.dropped = true;
        this.ctx.onDrop?.();
        return KILLED_STATUS;
      case 'fill': {
        const names = rule!.datastore ? [rule!.datastore] : this.ctx.vfs.datastores().map((d) => d.name);
        for (const name of names) this.ctx.vfs.setFull(name, true);
        return this.execute(argv, state, fds, assigned, signal);
      }
      case 'slow': {
        if (rule!.delayMs) {
          try {
            await sleepAbortable(rule!.delayMs, signal);
          } catch {
            return KILLED_STATUS;
          }
        }
        if (!rule!.bytesPerSecond) return this.execute(argv, state, fds, assigned, signal);
        const throttled = throttledWritable(fds.stdout, rule!.bytesPerSecond, signal);
        const status = await this.execute(argv, state, { ...fds, stdout: throttled }, assigned, signal);
        await endWritable(throttled);
        return status;
      }
      default:
        return this.execute(argv, state, fds, assigned, signal);
    }
  }

  private async execute(argv: string[], state: ShellState, fds: Fds, assigned: Record<string, string>, signal: AbortSignal): Promise<number> {
    const name = posix.basename(argv[0]!);
    const builtin = builtins.get(name);
    const impl = this.ctx.commands.get(name);
    const io: CommandIO = { argv, ...fds, env: { ...state.vars, ...assigned }, cwd: state.cwd, vfs: this.ctx.vfs, signal };
    if (!builtin && !impl) {
      await writeChunk(fds.stderr, `sh: ${argv[0]}: not found\n`, signal).catch(() => {});
      return 127;
    }
    try {
      return builtin ? await builtin(io, state) : await impl!(io);
    } catch (err) {
      if (isStreamStop(err) || signal.aborted) return KILLED_STATUS;
      await writeChunk(fds.stderr, `${name}: ${errorText(err)}\n`, signal).catch(() => {});
      return 1;
    }
  }

  /** Applies redirections in order; returns the resulting fds, or an exit status when a file cannot be opened. */
  private async openRedirects(command: Pick<SimpleCommand, 'redirects'>, state: ShellState, fds: Fds, expand: ExpandContext, signal: AbortSignal): Promise<{ fds: Fds; close: () => Promise<void> } | number> {
    const table: (Readable | Writable | undefined)[] = [fds.stdin, fds.stdout, fds.stderr];
    const owned: Writable[] = [];
    for (const redirect of command.redirects) {
      if (redirect.op === 'dup') {
        table[redirect.fd] = table[redirect.targetFd];
        continue;
      }
      const target = await expandWordToString(redirect.target, expand);
      const path = resolvePath(state.cwd, target);
      try {
        if (redirect.op === '<') {
          table[redirect.fd] = path === '/dev/null' ? emptyReadable() : this.openForReading(path);
        } else {
          const out = path === '/dev/null' ? nullWritable() : this.openForWriting(path, redirect.op === '>>');
          owned.push(out);
          table[redirect.fd] = out;
        }
      } catch (err) {
        const verb = redirect.op === '<' ? 'open' : 'create';
        await writeChunk(fds.stderr, `sh: can't ${verb} ${target}: ${errorText(err)}\n`, signal).catch(() => {});
        await Promise.all(owned.map(endWritable));
        return 1;
      }
    }
    const stdin = table[0] as Readable | undefined;
    const result: Fds = {
      stdin: stdin ?? emptyReadable(),
      stdout: (table[1] as Writable | undefined) ?? nullWritable(),
      stderr: (table[2] as Writable | undefined) ?? nullWritable(),
    };
    return { fds: result, close: () => Promise.all(owned.map(endWritable)).then(() => {}) };
  }

  private openForReading(path: string): Readable {
    const stat = this.ctx.vfs.stat(path);
    if (!stat) throw Object.assign(new Error('No such file or directory'), { code: 'ENOENT' });
    if (stat.type === 'dir') throw Object.assign(new Error('Is a directory'), { code: 'EISDIR' });
    return fileReadable(this.ctx.vfs.open(path));
  }

  private openForWriting(path: string, append: boolean): Writable {
    const vfs = this.ctx.vfs;
    const stat = vfs.stat(path);
    if (stat?.type === 'dir') throw Object.assign(new Error('Is a directory'), { code: 'EISDIR' });
    if (!stat || !append) vfs.writeFile(path, '');
    const file = vfs.open(path);
    return fileWritable(file, append ? file.size() : 0);
  }
}
