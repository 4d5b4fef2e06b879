// Test transport that runs command lines with the local /bin/sh: a real shell and real dd stand in for the host's.

import { spawn } from 'node:child_process';
import type { ExecOptions, ExecResult, StreamHandle, Transport } from '../../src/transport/types.js';
import { shellJoin } from '../../src/util/shell-quote.js';

export class LocalShellTransport implements Transport {
  readonly commandLines: string[] = [];

  constructor(private readonly cwd: string) {}

  stream(commandLine: string, opts: ExecOptions = {}): StreamHandle {
    this.commandLines.push(commandLine);
    const input = opts.stdin;
    const child = spawn('/bin/sh', ['-c', commandLine], { cwd: this.cwd, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (input !== undefined) {
      child.stdin!.on('error', () => {});
      if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin!.end(input);
      else input.pipe(child.stdin!);
    }
    const onAbort = () => child.kill('SIGTERM');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const done = new Promise<{ exitCode: number; stderr: string }>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        opts.signal?.removeEventListener('abort', onAbort);
        resolve({ exitCode: code ?? (signal ? 128 : 1), stderr });
      });
    });
    return { stdout: child.stdout, done };
  }

  async execLine(commandLine: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const handle = this.stream(commandLine, opts);
    const chunks: Buffer[] = [];
    for await (const chunk of handle.stdout) chunks.push(chunk as Buffer);
    const { exitCode, stderr } = await handle.done;
    return { stdout: Buffer.concat(chunks).toString('utf8'), stderr, exitCode };
  }

  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return this.execLine(shellJoin(argv), opts);
  }

  async close(): Promise<void> {}
}
