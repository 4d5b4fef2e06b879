import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // Simulated hosts take hostd's real time only where a test asks for it (docs/simulator.md).
    env: { VCBMOUNTER_SIM_TIMING: 'fast' },
  },
});
