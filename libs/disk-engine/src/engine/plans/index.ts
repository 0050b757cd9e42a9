/**
 * The engine's operations, one file each: how each is decided (the pure model), what it locks,
 * reserves and logs as its intent, and the physical work it runs (operation-runner.ts runs them
 * all the same way). new-disk.ts, chain-depth-policy.ts and held-open.ts are shared by several.
 */
export { consolidate } from './consolidate';
export { createDisk } from './create-disk';
export { deleteDisk } from './delete-disk';
export { exportVmdk } from './export-vmdk';
export { fork } from './fork';
export { freeze } from './freeze';
export { fullClone } from './full-clone';
export { beginDiskImport } from './import-disk-stream';
export { importImage } from './import-image';
export { linkedClone } from './linked-clone';
export { materialise } from './materialise';
export { restoreQuarantined } from './restore-quarantined';
export { revert } from './revert';
export { snapshot } from './snapshot';
export { stageExport } from './stage-export';
