// Fault matrix, restore --drill: SIGTERM, and SIGKILL then `vcbmounter cleanup`, at every step (generated from the drill's step list).

import { vi } from 'vitest';
import { restoreSignalCells } from './restore-cells.js';

vi.setConfig({ testTimeout: 120_000 });
restoreSignalCells(['SIGTERM', 'SIGKILL then cleanup'], 'drill');
