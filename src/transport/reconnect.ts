// Retrying an idempotent call once on a fresh connection after the SSH connection dropped.

import { TransportError } from './types.js';
import type { SshTransport } from './ssh.js';

/**
 * Runs call(transport); if it fails with SOCKET (connection lost), reconnects and runs it once more.
 * Only for calls that are safe to repeat (reads, listings, idempotent cleanup).
 */
export async function withReconnect<T>(transport: SshTransport, call: (transport: SshTransport) => Promise<T>): Promise<T> {
  if (!transport.isConnected()) await transport.reconnect();
  try {
    return await call(transport);
  } catch (error) {
    if (!(error instanceof TransportError) || error.code !== 'SOCKET') throw error;
    if (!transport.isConnected()) await transport.reconnect();
    return call(transport);
  }
}
