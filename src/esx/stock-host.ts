// What both command-set drivers do the same way: run a command on the host, and the stock commands
// (`vmware -v`, `cat`, `vmkfstools`, `mkdir`, `rm`, `dd`) every ESX and ESXi host has.

import type { Readable } from 'node:stream';
import { TransportError, type ExecResult, type Transport } from '../transport/types.js';
import { stockCmd, uploadLine, type DiskAdapter } from './commands/stock.js';
import { parseFsInfo, type VolumeSpace } from './parse/fs-info.js';
import { describeCommand, hostCommandFailed } from './host-error.js';
import { parseBlockMap } from './parse/block-map.js';
import { parseVmwareVersion } from './parse/version.js';
import { checkHostResult, execOnHost, hostMessage, runOnHost, timeout } from './run.js';
import { VcbError } from '../errors.js';
import { shellJoin } from '../util/shell-quote.js';
import { findSnapshot } from './snapshot-match.js';
import { assertRemoved, pickCreated } from './snapshot-steps.js';
import type { BlockMap, CreateSnapshotOptions, HostVersion, RemoveSnapshotOptions, SnapshotInfo, VmRef } from './types.js';

export abstract class StockCommandsHost {
  /** Results already in hand (the command-set probe's listing), each used once instead of running the command again. */
  private readonly primed = new Map<string, ExecResult>();

  constructor(protected readonly transport: Transport) {}

  /**
   * Hands over the result of a read-only command that was just run (the probe that chose this driver), so
   * the next run of exactly that command uses it instead of asking the host again. Only a successful result
   * is kept; it is used once.
   */
  primeResult(command: readonly string[], result: ExecResult): void {
    if (result.exitCode === 0) this.primed.set(commandKey(command), result);
  }

  protected run(command: readonly string[], options?: Parameters<typeof runOnHost>[2]): Promise<string> {
    const key = commandKey(command);
    const primed = this.primed.get(key);
    if (primed) {
      this.primed.delete(key);
      return Promise.resolve().then(() => checkHostResult(command, primed, options));
    }
    return runOnHost(this.transport, command, options);
  }

  async version(): Promise<HostVersion> {
    const command = stockCmd.version();
    return parseVmwareVersion(await this.run(command), command);
  }

  readFile(path: string): Promise<string> {
    return this.run(stockCmd.cat(path));
  }

  async blockMap(diskPath: string): Promise<BlockMap> {
    const command = stockCmd.blockMap(diskPath);
    return parseBlockMap(await this.run(command), command);
  }

  async snapshotDeltaMap(descriptorPath: string): Promise<{ map: BlockMap } | { refused: string }> {
    const command = stockCmd.blockMap(descriptorPath);
    const result = await execOnHost(this.transport, command);
    if (result.exitCode !== 0) return { refused: hostMessage(result) };
    try {
      return { map: parseBlockMap(result.stdout, command) };
    } catch (error) {
      if (error instanceof VcbError && error.code === 'HOST_COMMAND') return { refused: error.message };
      throw error;
    }
  }

  async volumeSpace(path: string): Promise<VolumeSpace> {
    const command = stockCmd.fsInfo(path);
    return parseFsInfo(await this.run(command), command);
  }

  async makeDirectory(path: string, options: { parents?: boolean } = {}): Promise<void> {
    const command = options.parents ? stockCmd.mkdirParents(path) : stockCmd.mkdir(path);
    const result = await execOnHost(this.transport, command);
    if (result.exitCode !== 0 && /File exists/i.test(result.stderr)) {
      throw hostCommandFailed(command, `${path} already exists on the datastore`, 'DESTINATION');
    }
    checkHostResult(command, result);
  }

  async pathExists(path: string): Promise<boolean> {
    const command = stockCmd.exists(path);
    const result = await execOnHost(this.transport, command);
    if (result.exitCode === 0) return true;
    if (/No such file or directory/i.test(result.stderr)) return false;
    checkHostResult(command, result);
    return false;
  }

  async movePath(from: string, to: string): Promise<void> {
    await this.run(stockCmd.move(from, to));
  }

  async removeDirectory(path: string, options: { timeoutMs?: number } = {}): Promise<void> {
    await this.run(stockCmd.removeTree(path), timeout(options.timeoutMs));
  }

  async createThinDisk(descriptorPath: string, capacity: number, adapter: DiskAdapter): Promise<void> {
    await this.run(stockCmd.createThinDisk(descriptorPath, capacity, adapter));
  }

  writeDiskRange(flatPath: string, offset: number, data: Buffer | Readable, options: WriteOptions = {}): Promise<void> {
    const command = stockCmd.writeAt(flatPath, offset);
    return this.runWithInput(command, shellJoin(command), data, options);
  }

  uploadFile(path: string, data: Buffer, options: WriteOptions = {}): Promise<void> {
    const line = uploadLine(path);
    // Shown as the shell line it is (`cat > PATH`), not as a command whose argument is ">".
    return this.runWithInput(['cat', '>', path], line, data, options, `cat > ${describeCommand([path])}`);
  }

  /** Runs a command line fed `data` on stdin; a failure (a full datastore among them) throws as runOnHost's would. */
  private async runWithInput(command: readonly string[], line: string, data: Buffer | Readable, options: WriteOptions, shown = describeCommand(command)): Promise<void> {
    let result: ExecResult;
    try {
      result = await this.transport.execLine(line, { stdin: data, ...timeout(options.timeoutMs), ...(options.signal ? { signal: options.signal } : {}) });
    } catch (error) {
      if (!(error instanceof TransportError)) throw error;
      const code = error.code === 'ABORTED' ? 'INTERRUPTED' : error.code === 'TIMEOUT' ? 'HOST_COMMAND' : 'CONNECT';
      throw new VcbError(code, `${shown}: ${error.message}`, { command: [...command] }, { cause: error });
    }
    if (result.exitCode !== 0) {
      const full = /No space left on device/i.test(result.stderr);
      throw hostCommandFailed(command, hostMessage(result), full ? 'DATASTORE_FULL' : 'HOST_COMMAND', { shown });
    }
  }

  abstract listSnapshots(vm: VmRef): Promise<SnapshotInfo[]>;

  /**
   * The create protocol both command sets share: list the snapshots (or take the caller's listing), run
   * `command`, list again, and return the one new snapshot named options.name. `accept` throws if the
   * command's output reports a refusal.
   */
  protected async createSnapshotWith(
    vm: VmRef,
    options: CreateSnapshotOptions,
    command: string[],
    accept: (output: string) => void = () => {},
  ): Promise<SnapshotInfo> {
    const before = options.listing ?? (await this.listSnapshots(vm));
    const output = await this.run(command, { failureCode: 'SNAPSHOT', ...timeout(options.timeoutMs) });
    accept(output);
    const after = await this.listSnapshots(vm);
    return pickCreated(before, after, options.name, { vm: vm.name, command, hostOutput: output });
  }

  /**
   * The removal protocol both command sets share: find the snapshot in a fresh listing (the caller's, when
   * it gives one; 'absent' if it is gone), run the command `commandFor` chooses (it may refuse by
   * throwing), and check that it is gone.
   */
  protected async removeSnapshotWith(
    vm: VmRef,
    snapshot: SnapshotInfo,
    options: RemoveSnapshotOptions,
    commandFor: (current: readonly SnapshotInfo[], target: SnapshotInfo) => string[],
    accept: (output: string, command: string[]) => void = () => {},
  ): Promise<'removed' | 'absent'> {
    const current = options.listing ?? (await this.listSnapshots(vm));
    const target = findSnapshot(current, snapshot);
    if (!target) return 'absent';
    const command = commandFor(current, target);
    accept(await this.run(command, { failureCode: 'SNAPSHOT', ...timeout(options.timeoutMs) }), command);
    assertRemoved(await this.listSnapshots(vm), target, vm.name, command);
    return 'removed';
  }
}

export interface WriteOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

function commandKey(command: readonly string[]): string {
  return JSON.stringify(command);
}
