import { EventStore1764000000000 } from './1764000000000-event-store';
import { ReadModels1764000000001 } from './1764000000001-read-models';
import { Pools1764000000002 } from './1764000000002-pools';
import { PoolSites1764000000003 } from './1764000000003-pool-sites';
import { OutboxNotify1764000000004 } from './1764000000004-outbox-notify';
import { LeastPrivilege1764000000005 } from './1764000000005-least-privilege';
import { StreamStarts1764000000010 } from './1764000000010-stream-starts';
import { ReadModelStatesV21764000000011 } from './1764000000011-read-model-states-v2';
import { DatastoreAccessibility1764000000015 } from './1764000000015-datastore-accessibility';
import { WorkerReadsNoReadModel1764000000016 } from './1764000000016-worker-reads-no-read-model';
import { TaskFailureReasons1764000000017 } from './1764000000017-task-failure-reasons';
import { EventChain1764000000018 } from './1764000000018-event-chain';
import { AuditLogExport1764000000019 } from './1764000000019-audit-log-export';
import { Lineage1764000000020 } from './1764000000020-lineage';
import { ReadModelSwitch1764000000021 } from './1764000000021-read-model-switch';
import { StateSnapshots1764000000022 } from './1764000000022-state-snapshots';
import { UnloggedRebuilds1764000000023 } from './1764000000023-unlogged-rebuilds';
import { RebuildIndexesLast1764000000024 } from './1764000000024-rebuild-indexes-last';

/** Every migration, oldest first. The only way the schema changes. */
export const MIGRATIONS = [
  EventStore1764000000000,
  ReadModels1764000000001,
  Pools1764000000002,
  PoolSites1764000000003,
  OutboxNotify1764000000004,
  LeastPrivilege1764000000005,
  StreamStarts1764000000010,
  ReadModelStatesV21764000000011,
  DatastoreAccessibility1764000000015,
  WorkerReadsNoReadModel1764000000016,
  TaskFailureReasons1764000000017,
  EventChain1764000000018,
  AuditLogExport1764000000019,
  Lineage1764000000020,
  ReadModelSwitch1764000000021,
  StateSnapshots1764000000022,
  UnloggedRebuilds1764000000023,
  RebuildIndexesLast1764000000024,
];
