// The CLI's entry (bin/vcbmounter.js runs it, bundled): `vcbmounter verify` loads only the modules it needs, every other command line the whole CLI (main.ts).
//
// verify runs after each backup and is measured against a plain read of the export (docs/benchmarks.md, rows 13
// and 14): loading the whole CLI (backups, SSH, job files, notifications) cost more CPU than reading a small export.

import type { CliIO } from './io.js';

export async function run(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  if (argv[0] === 'verify') return (await import('./verify-command.js')).runVerifyCommandLine(argv, io);
  return (await import('./main.js')).run(argv, io);
}
