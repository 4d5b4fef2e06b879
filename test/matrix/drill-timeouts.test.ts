// Fault matrix, restore --drill: every step's first host command hangs, or completes on the host after the client gave up (generated from the drill's step list).

import { vi } from 'vitest';
import { HOST_FAULTS } from './host-faults.js';
import { restoreHostFaultCells } from './restore-cells.js';

vi.setConfig({ testTimeout: 120_000 });
restoreHostFaultCells(HOST_FAULTS.filter((f) => f.rule.action === 'hang' || f.rule.action === 'late'), 'drill');
