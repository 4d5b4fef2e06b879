#!/usr/bin/env node
// Entry point: runs the CLI (bundled into dist/app/ by npm run build) and exits with the code it returns.
import { run } from '../dist/app/main.js';

// A reader that went away (e.g. `vcbmounter --help | head`) is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await run(process.argv.slice(2));
