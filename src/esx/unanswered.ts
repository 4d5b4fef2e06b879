// Whether a host command ended without the host's answer: the host may still carry it out.

import { VcbError } from '../errors.js';
import { TransportError } from '../transport/types.js';

/** True when a host command ended without the host's answer (timeout, dropped connection, interrupt): the host may still finish it. */
export function unanswered(e: unknown): boolean {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    if (c instanceof TransportError) return c.code === 'TIMEOUT' || c.code === 'SOCKET' || c.code === 'ABORTED';
    if (c instanceof VcbError && c.code === 'INTERRUPTED') return true;
  }
  return false;
}
