// Waiting for a VM to reach a power state by polling the host: a guest shutdown is not a task the host reports the end of.

import type { EsxHost, PowerState, VmRef } from './types.js';
import { pause } from '../util/pause.js';

/** Between two getstate polls: a shutdown takes seconds to minutes, and each poll is a hostd round trip. */
export const POWER_POLL_MS = 1_000;

/**
 * Polls the VM's power state until it is `wanted` (returns it) or `until` (epoch ms) passes (returns the
 * last state seen). Rejects with the signal's reason when it aborts, and with the host's error when a poll fails.
 */
export async function waitForPowerState(
  esx: EsxHost,
  vm: VmRef,
  wanted: PowerState,
  until: number,
  signal: AbortSignal,
  pollMs = POWER_POLL_MS,
): Promise<PowerState> {
  for (;;) {
    if (signal.aborted) throw signal.reason;
    const state = await esx.powerState(vm);
    if (state === wanted || Date.now() >= until) return state;
    await pause(Math.min(pollMs, Math.max(0, until - Date.now())), signal);
  }
}

