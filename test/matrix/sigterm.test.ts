// Fault matrix: 'SIGTERM' at every step of every job type (generated from the step lists).

import { vi } from 'vitest';
import { JOB_TYPES } from './matrix.js';
import { signalCells } from './signal-cells.js';

vi.setConfig({ testTimeout: 120_000 });
for (const type of Object.values(JOB_TYPES)) signalCells(type, ['SIGTERM']);
