#!/usr/bin/env -S node --max-semi-space-size=2
// Entry point: runs the CLI (bundled into dist/app/ by npm run build) and exits with the code it returns.
//
// --max-semi-space-size=2 (MiB) keeps V8's young generation small. The export's bytes live outside the
// JS heap and its objects die young; with the default, the young generation grows to 16 MiB, the heap's
// old-generation slack (about 16 MiB over a 10 MiB heap) is no longer larger than it, and V8 starts
// marking the old generation about every quarter second: some 1 s of CPU per 2 GiB exported.
// `node bin/vcbmounter.js` works the same, without the setting.
import { run } from '../dist/app/main.js';

// A reader that went away (e.g. `vcbmounter --help | head`) is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await run(process.argv.slice(2));
// The run is over and its journal records whatever it could not release. Anything still open now (a host
// command abandoned at the cleanup bound) must not keep a cron job waiting for ever.
setTimeout(() => process.exit(process.exitCode), 3_000).unref();
