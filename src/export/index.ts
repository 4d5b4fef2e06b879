// Public surface of the fullvm export writer.

export { streamVm, type StreamVmOptions } from './stream-vm.js';
export { exportVm, exportTotalBytes, type DeltaInput, type ExportDiskInput, type ExportResult, type ExportVmOptions } from './export-vm.js';
export {
  catalogSchema,
  catalogDiskSchema,
  skippedDiskSchema,
  formatCatalog,
  parseCatalog,
  CATALOG_FILE,
  type Catalog,
  type CatalogDisk,
  type SkippedDisk,
} from './catalog.js';
export { verifyExport, verifyExportDir, verifyExportDisk, readExportCatalog, type DiskVerification, type ExportVerification, type VerifiedFile, type VerifyOptions } from './verify.js';
export { problemLine, problemLines, type VerifyProblem, type VerifyProblemKind } from './verify-problems.js';
export { writeStateFile, readStateFile, STATE_FILE } from './state-file.js';
export { partialDirFor, asideDirFor, commitPartialDirectory, discardPartialDirectory, INCOMPLETE_MARKER, type Preexisting } from './atomic-dir.js';
export { completeExport, exportFileNames } from './written-files.js';
export { markVerified, isVerified, readVerifiedRecord, clearVerified, VERIFIED_FILE, type VerifiedDisk, type VerifiedRecord } from './verified-record.js';
export { FlatDiskWriter, type DiskLayout, type WrittenDisk } from './flat-disk-writer.js';
export { DIGEST_BLOCK } from './block-digest.js';
export { BlockAssembler } from './block-assembler.js';
export { isCopyableVmFile, exportDescriptorNames, rewriteVmxDiskFileNames } from './vm-files.js';
