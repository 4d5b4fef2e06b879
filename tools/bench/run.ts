// `npm run bench`: runs the comparisons against one simulated host, prints the tables, records them in docs/benchmarks.md.

import { join } from 'node:path';
import { projectRoot } from '../test-support/project-root.js';
import { parseBenchArgs, runsGroup, USAGE } from './args.js';
import { measureFixedCosts, memoryAsDiskGrows, nbdVersusSshCat, sanVersusSequentialRead, thinVersusFullCopy, type Comparison } from './cases.js';
import { fileMountCases } from './file-cases.js';
import { streamCases } from './stream-cases.js';
import { jobCases } from './jobs-cases.js';
import { restoreCases } from './restore-cases.js';
import { verifyCases } from './verify-cases.js';
import { startBenchHost } from './fixture.js';
import { FILE_RESULTS_END, FILE_RESULTS_START, JOB_RESULTS_END, JOB_RESULTS_START, RESTORE_RESULTS_END, RESTORE_RESULTS_START, STREAM_RESULTS_END, STREAM_RESULTS_START, VERIFY_RESULTS_END, VERIFY_RESULTS_START, fileFacts, fileSystemOf, machineFacts, placementFacts, resultsMarkdown, writeResultsIntoDocs } from './report.js';

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Row number of the first -t file case, whatever else ran. */
const FIRST_FILE_ROW = 5;
/** Row number of the first --stream case. */
const FIRST_STREAM_ROW = 8;
/** Row number of the first job file case. */
const FIRST_JOB_ROW = 11;
/** Row number of the first restore case. */
const FIRST_RESTORE_ROW = 15;
/** Row number of the first verify case. */
const FIRST_VERIFY_ROW = 13;

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const args = parseBenchArgs(argv);
  const host = await startBenchHost(args, log);
  const lunImage = host.sim.esx.vfs.datastores()[0]!.lunPath;
  const placement = placementFacts(lunImage, host.out, host.sanOut);
  const filePlacement = fileFacts(lunImage, host.work);
  const jobPlacement = `backups written under: ${host.out} (${fileSystemOf(host.out)})`;
  const verifyPlacement = [`exports verified in: ${host.out} (${fileSystemOf(host.out)})`];
  const exportCases: Comparison[] = [];
  const fileCases: Comparison[] = [];
  const streamRows: Comparison[] = [];
  const jobRows: Comparison[] = [];
  const verifyRows: Comparison[] = [];
  const restoreRows: Comparison[] = [];
  try {
    if (runsGroup(args, 'export')) {
      const fixed = await measureFixedCosts(host, args, log);
      for (const bench of [nbdVersusSshCat, sanVersusSequentialRead, thinVersusFullCopy, memoryAsDiskGrows]) {
        exportCases.push(await bench(host, args, log, fixed));
      }
    }
    if (runsGroup(args, 'file')) fileCases.push(...(await fileMountCases(host, args, log)));
    if (runsGroup(args, 'stream')) streamRows.push(...(await streamCases(host, args, log)));
    if (runsGroup(args, 'jobs')) jobRows.push(...(await jobCases(host, args, log)));
    if (runsGroup(args, 'verify')) verifyRows.push(...(await verifyCases(host, args, log)));
    if (runsGroup(args, 'restore')) restoreRows.push(...(await restoreCases(host, args, log)));
  } finally {
    await host.close();
  }
  const docs = join(projectRoot(), 'docs', 'benchmarks.md');
  if (exportCases.length) {
    const markdown = resultsMarkdown(args.command, exportCases, [...machineFacts(), ...placement]);
    process.stdout.write(`${markdown}\n`);
    if (args.writeDocs) writeResultsIntoDocs(docs, markdown);
  }
  if (fileCases.length) {
    const markdown = resultsMarkdown(args.command, fileCases, [...machineFacts(), ...filePlacement], FIRST_FILE_ROW);
    process.stdout.write(`${exportCases.length ? '\n' : ''}${markdown}\n`);
    if (args.writeDocs) writeResultsIntoDocs(docs, markdown, { start: FILE_RESULTS_START, end: FILE_RESULTS_END });
  }
  if (streamRows.length) {
    const markdown = resultsMarkdown(args.command, streamRows, [...machineFacts(), ...placement], FIRST_STREAM_ROW);
    process.stdout.write(`\n${markdown}\n`);
    if (args.writeDocs) writeResultsIntoDocs(docs, markdown, { start: STREAM_RESULTS_START, end: STREAM_RESULTS_END });
  }
  if (verifyRows.length) {
    const markdown = resultsMarkdown(args.command, verifyRows, [...machineFacts(), ...verifyPlacement], FIRST_VERIFY_ROW);
    process.stdout.write(`\n${markdown}\n`);
    if (args.writeDocs) writeResultsIntoDocs(docs, markdown, { start: VERIFY_RESULTS_START, end: VERIFY_RESULTS_END });
  }
  if (jobRows.length) {
    const markdown = resultsMarkdown(args.command, jobRows, [...machineFacts(), jobPlacement], FIRST_JOB_ROW);
    process.stdout.write(`\n${markdown}\n`);
    if (args.writeDocs) writeResultsIntoDocs(docs, markdown, { start: JOB_RESULTS_START, end: JOB_RESULTS_END });
  }
  if (restoreRows.length) {
    const markdown = resultsMarkdown(args.command, restoreRows, [...machineFacts(), ...placement], FIRST_RESTORE_ROW);
    process.stdout.write(`\n${markdown}\n`);
    if (args.writeDocs) writeResultsIntoDocs(docs, markdown, { start: RESTORE_RESULTS_START, end: RESTORE_RESULTS_END });
  }
  if (args.writeDocs) log(`results written to ${docs}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
