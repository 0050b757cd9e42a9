// The disk engine: a port (port.ts) and its QEMU driver, the pure layer-graph model, and the
// worker's data-plane entry points. See libs/disk-engine/README.md.
export * from './errors';
export * from './port';
export * from './data-plane';
export {
  QemuDiskEngine,
  type DatastoreConfig,
  type DegradedDatastore,
  type InaccessibleDatastore,
  type QemuDiskEngineConfig,
  type StartReport,
  probeDatastore,
} from './engine/qemu-disk-engine';
export { type OperationTiming } from './engine/operation-runner';
export { type CheckFinding, type FindingAction, type FindingKind } from './engine/check';
export { type DaemonTuning, DEFAULT_TUNING } from './daemon/live-graph';
export {
  type NbdEndpoint,
  type NbdListen,
  type StorageDaemonConfig,
  type TlsConfig,
  isLoopback,
  prepareStorageDaemon,
} from './daemon/storage-daemon';
export { UNIX_SOCKET_PATH_MAX_BYTES } from './daemon/runtime-dir';
export { NbdClient, NbdError, type NbdTarget } from './nbd/nbd-client';
export * from './model/events';
export {
  chainOf,
  chainDepth,
  referenceCount,
  emptyGraph,
  type LayerGraph,
  PROVISIONING_FORMATS,
} from './model/layer-graph';
export { type BlockMapExtent, type LayerBytes } from './model/block-map';
export { type DiskSpace } from './model/space';
export { DEFAULT_MAX_CHAIN_DEPTH } from './model/chain-depth';
export {
  canonicalPath,
  claimDatastoreFolder,
  gatherFolderFacts,
  inspectDatastoreFolder,
} from './store/datastore-folder';
