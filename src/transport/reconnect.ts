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
 * idempotent cleanup). Once `signal` is aborted it no longer reconnects.
 */
export async function withReconnect<T>(transport: SshTransport, call: (transport: SshTransport) => Promise<T>, signal?: AbortSignal): Promise<T> {
  // A caller that gave up (its bound ran out) must not open a new connection that would outlive it.
  const reconnect = async () => {
    if (signal?.aborted) throw signal.reason;
    await transport.reconnect();
  };
  if (!transport.isConnected()) await reconnect();
  try {
    return await call(transport);
  } catch (error) {
    if (!lostConnection(error)) throw error;
    if (!transport.isConnected()) await reconnect();
    return call(transport);
  }
}
