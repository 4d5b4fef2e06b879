// Parser for `vmware -v`: product, version and build of an ESX/ESXi host.

import { stockCmd } from '../commands/stock.js';
import { unexpectedOutput } from '../host-error.js';
import { nonBlankLines } from './lines.js';

export interface HostVersion {
  /** e.g. `VMware ESXi`, `VMware ESX Server`, `VMware ESX Server 3i`. */
  product: string;
  version: string;
  major: number;
  build: string;
  /** ESXi (including 3i) ships vim-cmd and no service console vmware-cmd. */
  esxi: boolean;
  /** The line as printed. */
  text: string;
}

const VERSION_LINE = /^(VMware ESX[^\d]*?(?:\s3i)?)\s+(\d+)\.(\d+)(?:\.(\d+))?(?:\s+(?:Update\s+\d+|GA))?\s+build-(\d+)\s*$/i;

export function parseVmwareVersion(output: string, command: readonly string[] = stockCmd.version()): HostVersion {
  const lines = nonBlankLines(output);
  for (const line of lines) {
    const m = VERSION_LINE.exec(line.text.trim());
    if (!m) continue;
    const product = m[1]!.trim();
    const version = [m[2], m[3], m[4]].filter((p) => p !== undefined).join('.');
    return {
      product,
      version,
      major: Number(m[2]),
      build: m[5]!,
      esxi: /ESXi|\s3i$/.test(product),
      text: line.text.trim(),
    };
  }
  throw unexpectedOutput(command, 'expected "VMware ESX... <version> build-<n>"', lines[0]);
}
