// Fault matrix: every step's first host command meets fault 'late' (generated from the job types' step lists).

import { vi } from 'vitest';
import { EXPORT_TYPES } from './matrix.js';
import { HOST_FAULTS, hostFaultCells } from './host-faults.js';

vi.setConfig({ testTimeout: 120_000 });
for (const type of Object.values(EXPORT_TYPES)) hostFaultCells(type, HOST_FAULTS.filter((f) => f.rule.action === 'late'));
