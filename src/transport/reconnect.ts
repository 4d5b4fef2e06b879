// Retrying an idempotent call once on a fresh connection after the SSH connection dropped.

import { TransportError } from './types.js';
import type { SshTransport } from './ssh.js';

/** True when error, or an error it wraps (the host layer wraps transport errors), is a lost connection. */
function lostConnection(error: unknown): boolean {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    if (e instanceof TransportError) return e.code === 'SOCKET';
  }
  return false;
}

/**
 * Runs call(transport); if it fails with SOCKET (connection lost, possibly wrapped as the cause of another
 * error), reconnects and runs it once more. Only for calls that are safe to repeat (reads, listings,
 * idempotent cleanup).
 */
export async function withReconnect<T>(transport: SshTransport, call: (transport: SshTransport) => Promise<T>): Promise<T> {
  if (!transport.isConnected()) await transport.reconnect();
  try {
    return await call(transport);
  } catch (error) {
    if (!lostConnection(error)) throw error;
    if (!transport.isConnected()) await transport.reconnect();
    return call(transport);
  }
}
