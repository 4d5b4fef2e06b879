// A logged-in host: its SSH transport, the driver for its command set, and the label runs are recorded under.

import type { SshTransport } from '../transport/index.js';
import type { EsxHost } from './types.js';

/** The name every VMware backup tool gives its snapshot, so that any of them recognises a leftover one. */
export const BACKUP_SNAPSHOT_NAME = '_VCB-BACKUP_';

export interface HostSession {
  transport: SshTransport;
  esx: EsxHost;
  /** host:port, for messages, locks and journals. */
  label: string;
}
