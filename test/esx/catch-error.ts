// Test helper: runs a function expected to throw a VcbError and returns it for inspection.

import { expect } from 'vitest';
import { VcbError } from '../../src/errors.js';

export function catchVcbError(fn: () => unknown): VcbError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VcbError);
    return err as VcbError;
  }
  throw new Error('expected a VcbError, nothing was thrown');
}

export async function catchVcbErrorAsync(fn: () => Promise<unknown>): Promise<VcbError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VcbError);
    return err as VcbError;
  }
  throw new Error('expected a VcbError, nothing was thrown');
}
