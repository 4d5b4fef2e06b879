#!/usr/bin/env node
// Bundles the compiled CLI (its entry, dist/cli/entry.js) with the JavaScript it imports into dist/app/, which
// bin/vcbmounter.js runs: a few files instead of a few hundred modules, so a run starts about 0.1 s sooner.
//
// dist/app/ sits at the same depth as dist/cli/, so paths computed from import.meta.url still point into
// the project. ssh2 (native crypto binding), @node-rs/xxhash (a native binding: the block checksums) and
// pino-pretty (loaded only on a terminal) stay in node_modules and are loaded from there; the simulator goes into chunks loaded only for `-h sim`.

import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'app');
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { main: 'dist/cli/entry.js' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['ssh2', 'cpu-features', '@node-rs/xxhash', 'pino-pretty'],
  // CommonJS dependencies call require() for Node's own modules; ESM output has none unless given one.
  banner: { js: "import { createRequire as __vcbmounterRequire } from 'node:module'; const require = __vcbmounterRequire(import.meta.url);" },
  logLevel: 'warning',
});
