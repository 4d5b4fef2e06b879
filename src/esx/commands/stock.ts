// argv builders for the stock host utilities the tool may rely on (vmware -v, cat, vmkfstools).

import { requireAbsolutePath, requireDescriptorPath } from './validate.js';

export const stockCmd = {
  version: (): string[] => ['vmware', '-v'],
  cat: (path: string): string[] => ['cat', requireAbsolutePath(path)],
  blockMap: (diskPath: string): string[] => ['vmkfstools', '-t0', requireDescriptorPath(diskPath)],
};
