#!/usr/bin/env node
// Entry point: runs the compiled CLI and exits with the code it returns.
import { run } from '../dist/cli/main.js';

process.exitCode = await run(process.argv.slice(2));
