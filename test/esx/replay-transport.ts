// Test fixture for the host side: a Transport that answers each expected argv, in order, with a recorded host output.

import { expect } from 'vitest';
import { TransportError, type ExecOptions, type ExecResult, type StreamHandle, type Transport } from '../../src/transport/types.js';

export interface ReplayStep {
  argv: readonly string[];
  stdout?: string;
  stderr?: string;
  exitCode?: number;
  /** Instead of a result, the transport fails like this. */
  error?: TransportError;
}

export class ReplayTransport implements Transport {
  readonly sent: Array<{ argv: string[]; options: ExecOptions | undefined }> = [];
  private next = 0;

  constructor(private readonly steps: readonly ReplayStep[]) {}

  async exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    this.sent.push({ argv: [...argv], options });
    const step = this.steps[this.next++];
    if (!step) throw new Error(`unexpected extra command: ${JSON.stringify(argv)}`);
    expect(argv).toEqual(step.argv);
    if (step.error) throw step.error;
    return { stdout: step.stdout ?? '', stderr: step.stderr ?? '', exitCode: step.exitCode ?? 0 };
  }

  execLine(commandLine: string): Promise<ExecResult> {
    throw new Error(`drivers must send argv, not command lines: ${commandLine}`);
  }

  stream(commandLine: string): StreamHandle {
    throw new Error(`drivers must send argv, not command lines: ${commandLine}`);
  }

  async close(): Promise<void> {}

  /** Every recorded step was asked for. */
  expectAllUsed(): void {
    expect(this.sent.map((s) => s.argv)).toEqual(this.steps.map((s) => [...s.argv]));
  }
}

export { TransportError };
