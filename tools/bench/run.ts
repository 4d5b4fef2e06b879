// `npm run bench`: runs the four comparisons against one simulated host, prints the table, records it in docs/benchmarks.md.

import { join } from 'node:path';
import { projectRoot } from '../test-support/project-root.js';
import { parseBenchArgs, USAGE } from './args.js';
import { measureFixedCosts, memoryAsDiskGrows, nbdVersusSshCat, sanVersusSequentialRead, thinVersusFullCopy, type Comparison } from './cases.js';
import { startBenchHost } from './fixture.js';
import { machineFacts, placementFacts, resultsMarkdown, writeResultsIntoDocs } from './report.js';

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const args = parseBenchArgs(argv);
  const host = await startBenchHost(args, log);
  const placement = placementFacts(host.sim.esx.vfs.datastores()[0]!.lunPath, host.out, host.sanOut);
  const comparisons: Comparison[] = [];
  try {
    const fixed = await measureFixedCosts(host, args, log);
    for (const bench of [nbdVersusSshCat, sanVersusSequentialRead, thinVersusFullCopy, memoryAsDiskGrows]) {
      comparisons.push(await bench(host, args, log, fixed));
    }
  } finally {
    await host.close();
  }
  const markdown = resultsMarkdown(args.command, comparisons, [...machineFacts(), ...placement]);
  process.stdout.write(`${markdown}\n`);
  if (args.writeDocs) {
    const docs = join(projectRoot(), 'docs', 'benchmarks.md');
    writeResultsIntoDocs(docs, markdown);
    log(`results written to ${docs}`);
  }
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
