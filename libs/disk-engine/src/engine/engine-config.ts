/** How a QEMU disk engine is set up, and what its start reports. */
import { type DaemonTuning, type LiveExport } from '../daemon/live-graph';
import { type NbdListen, type TlsConfig } from '../daemon/storage-daemon';
import { type CheckFinding, type CheckReport } from './check';
import { type OperationTiming } from './operation-runner';

export interface DatastoreConfig {
  datastoreId: string;
  /** An existing folder; the engine keeps its metadata in `.dolly/` inside it. */
  path: string;
  /** Plan space against this; default: the size of the file system holding the folder. */
  capacityBytes?: number;
}

export interface QemuDiskEngineConfig {
  datastores: DatastoreConfig[];
  /** Owner-only folder for the daemon's sockets and pid file (keep the path short: sockets). */
  runtimeDir: string;
  nbd?: NbdListen;
  tls?: TlsConfig;
  maxChainDepth?: number;
  daemonTuning?: Partial<DaemonTuning>;
  /** Restart the daemon when it dies (default true). */
  restartDaemon?: boolean;
  now?: () => string;
  newLayerId?: () => string;
  /** Called after each operation with the time each phase took. */
  onTiming?: (timing: OperationTiming) => void;
  /**
   * Names this worker's record of its exports (`.dolly/live.<workerId>.json`), so that a restart
   * brings back its own; default: the host name and runtimeDir, which no two daemons share.
   */
  workerId?: string;
  /** How long an operation waits for another worker's section of a datastore (default 10 s). */
  lockTimeoutMs?: number;
  /** How long check lets one qemu-img run take before it counts as no answer (default 120 s). */
  checkImageTimeoutMs?: number;
  /**
   * Called when this engine finished an operation another worker left cut short (that worker
   * gone): rolled forward or back, as check would at a start.
   */
  onRecovered?: (finding: CheckFinding) => void;
}

export interface StartReport {
  check: CheckReport;
  reopenedExports: LiveExport[];
  /** Datastores whose folder could not be opened: left out, the engine serves the others. */
  inaccessible: InaccessibleDatastore[];
}

/** A datastore the engine could not open, and why (vSphere: an inaccessible datastore). */
export interface InaccessibleDatastore {
  datastoreId: string;
  /** A stable code: DISK.NOT_FOUND, DISK.DATASTORE_FOREIGN, DISK.DATASTORE_NOT_EMPTY, DISK.IO... */
  code: string;
  reason: string;
}

/** A datastore served, but whose last check could not judge some layers (they are left as they are). */
export interface DegradedDatastore {
  datastoreId: string;
  reason: string;
  /** The layers (or operations cut short) qemu-img gave no answer on: left as they are. */
  subjects: string[];
}
