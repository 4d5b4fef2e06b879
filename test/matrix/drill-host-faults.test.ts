// Fault matrix, restore --drill: every step's first host command fails, or the connection drops there (generated from the drill's step list).

import { vi } from 'vitest';
import { HOST_FAULTS } from './host-faults.js';
import { restoreHostFaultCells } from './restore-cells.js';

vi.setConfig({ testTimeout: 120_000 });
restoreHostFaultCells(HOST_FAULTS.filter((f) => f.rule.action === 'fail' || f.rule.action === 'drop'), 'drill');
