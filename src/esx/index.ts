// Public surface of the host layer: the EsxHost interface, its drivers, builders and parsers.

export * from './types.js';
export { VimCmdHost } from './vimcmd-driver.js';
export { VmwareCmdHost } from './vmwarecmd-driver.js';
export { connectEsxHost, detectCommandSet, esxHostFor } from './detect.js';
export { vimCmd } from './commands/vim-cmd.js';
export { vmwareCmd } from './commands/vmware-cmd.js';
export { stockCmd } from './commands/stock.js';
export * from './datastore-path.js';
export { parseVmx, VmxConfig } from './parse/vmx.js';
export { listVmxDisks, descriptorCreateType, rdmFromDescriptor, type VmxDisk } from './parse/vmx-disks.js';
export { parseBlockMap } from './parse/block-map.js';
export { sameSnapshot, findSnapshot } from './snapshot-match.js';
export { parseChainTops } from './snapshot-evidence.js';
export { BACKUP_SNAPSHOT_NAME, type HostSession } from './session.js';
export { waitForPowerState, POWER_POLL_MS } from './power-wait.js';
export { unanswered } from './unanswered.js';
export { uploadLine, WRITE_BLOCK } from './commands/stock.js';
export { parseFsInfo } from './parse/fs-info.js';
