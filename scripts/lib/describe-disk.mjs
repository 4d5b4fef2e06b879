// Splits a built guest disk image into gzip pieces (its non-zero regions) and prints its manifest entry as JSON.
// Usage: node describe-disk.mjs DISK_IMAGE SPEC_JSON OUT_DIR > entry.json
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const MiB = 1024 * 1024;
const GAP_TO_SPLIT_PIECES = 16 * MiB;

const [diskPath, specPath, outDir] = process.argv.slice(2);
if (!diskPath || !specPath || !outDir) {
  console.error('usage: describe-disk.mjs DISK_IMAGE SPEC_JSON OUT_DIR');
  process.exit(2);
}
const spec = JSON.parse(readFileSync(specPath, 'utf8'));
const diskSize = statSync(diskPath).size;

function readChunk(fd, offset, length) {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

function isAllZero(buffer) {
  for (let i = 0; i < buffer.length; i++) if (buffer[i] !== 0) return false;
  return true;
}

function nonZeroRegions(fd) {
  const regions = [];
  for (let offset = 0; offset < diskSize; offset += MiB) {
    if (isAllZero(readChunk(fd, offset, Math.min(MiB, diskSize - offset)))) continue;
    const end = Math.min(offset + MiB, diskSize);
    const last = regions.at(-1);
    if (last && offset - last.end < GAP_TO_SPLIT_PIECES) last.end = end;
    else regions.push({ start: offset, end });
  }
  return regions;
}

function sha256OfFile(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function readPartitionTable() {
  const table = JSON.parse(execFileSync('sfdisk', ['--json', diskPath], { encoding: 'utf8' })).partitiontable;
  const sectorSize = table.sectorsize ?? 512;
  const partitions = table.partitions.map((p) => {
    const index = Number(/(\d+)$/.exec(p.node)[1]);
    const extra = spec.partitions[String(index)] ?? {};
    return {
      index,
      startBytes: p.start * sectorSize,
      sizeBytes: p.size * sectorSize,
      type: p.type,
      ...(p.name !== undefined ? { name: p.name } : {}),
      ...(p.bootable ? { bootable: true } : {}),
      fsType: extra.fsType ?? null,
      label: extra.label ?? null,
      ...(extra.uuid ? { fsUuid: extra.uuid } : {}),
      driveLetter: extra.driveLetter ?? null,
    };
  });
  return { label: table.label, id: table.id, sectorSize, partitions };
}

const fd = openSync(diskPath, 'r');
const name = spec.name;
const pieces = nonZeroRegions(fd).map((region, i) => {
  const data = readChunk(fd, region.start, region.end - region.start);
  const file = `${name}.piece${i}.gz`;
  writeFileSync(join(outDir, file), gzipSync(data, { level: 9 }));
  return { offset: region.start, length: data.length, file, sha256: createHash('sha256').update(data).digest('hex') };
});
closeSync(fd);

const table = readPartitionTable();
const entry = {
  name,
  vm: spec.vm,
  diskIndex: spec.diskIndex,
  sizeBytes: diskSize,
  sha256: sha256OfFile(diskPath),
  partitionTable: table.label,
  diskId: table.id,
  sectorSize: table.sectorSize,
  pieces,
  partitions: table.partitions,
  files: spec.files.map((f) => {
    const content = readFileSync(f.source);
    const text = content.toString('utf8');
    const isShortText = content.length <= 256 && Buffer.from(text, 'utf8').equals(content) && !text.includes('\0');
    return {
      partition: f.partition,
      path: f.path,
      sizeBytes: content.length,
      sha256: createHash('sha256').update(content).digest('hex'),
      ...(isShortText ? { text } : {}),
    };
  }),
};
process.stdout.write(JSON.stringify(entry, null, 2) + '\n');
