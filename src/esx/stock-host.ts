// What both command-set drivers do the same way: run a command on the host, and the stock commands
// (`vmware -v`, `cat`, `vmkfstools -t0`) every ESX and ESXi host has.

import type { Transport } from '../transport/types.js';
import { stockCmd } from './commands/stock.js';
import { parseBlockMap } from './parse/block-map.js';
import { parseVmwareVersion } from './parse/version.js';
import { runOnHost } from './run.js';
import type { BlockMap, HostVersion } from './types.js';

export abstract class StockCommandsHost {
  constructor(protected readonly transport: Transport) {}

  protected run(command: readonly string[], options?: Parameters<typeof runOnHost>[2]): Promise<string> {
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
}
