import { Column, Entity, PrimaryColumn, type ValueTransformer } from 'typeorm';
import type {
  DatastoreState,
  DiskBlockMap,
  ExistingPool,
  ExistingVm,
  HostState,
} from '@dolly/domain';
import { LIVE_SCHEMA } from './projection';

/** PostgreSQL bigint arrives as a string; byte counts fit a JavaScript number (below 2^53). */
const bigintAsNumber: ValueTransformer = {
  to: (value?: number | null) => value,
  from: (value?: string | null) => (value === null || value === undefined ? value : Number(value)),
};

const timestamp = { type: 'timestamptz' } as const;

@Entity({ schema: LIVE_SCHEMA, name: 'hosts' })
export class HostRow {
  @PrimaryColumn('uuid', { name: 'host_id' }) hostId!: string;
  @Column('text') name!: string;
  @Column('text') management!: string;
  @Column('jsonb') state!: Extract<HostState, { status: 'registered' }>;
  @Column({ ...timestamp, name: 'registered_at' }) registeredAt!: Date;
  @Column({ ...timestamp, name: 'updated_at' }) updatedAt!: Date;
}

@Entity({ schema: LIVE_SCHEMA, name: 'datastores' })
export class DatastoreRow {
  @PrimaryColumn('uuid', { name: 'datastore_id' }) datastoreId!: string;
  @Column('text') name!: string;
  @Column('bigint', { name: 'capacity_bytes', transformer: bigintAsNumber }) capacityBytes!: number;
  @Column('bigint', { name: 'claimed_physical_bytes', transformer: bigintAsNumber })
  claimedPhysicalBytes!: number;
  @Column('bigint', { name: 'claimed_provisioned_bytes', transformer: bigintAsNumber })
  claimedProvisionedBytes!: number;
  /** `inaccessible` while a worker cannot open its folder; the reasons, worker by worker. */
  @Column('text') accessibility!: 'accessible' | 'inaccessible';
  @Column('text', { name: 'accessibility_reason', nullable: true })
  accessibilityReason!: string | null;
  @Column('jsonb') state!: Extract<DatastoreState, { status: 'registered' }>;
  @Column({ ...timestamp, name: 'registered_at' }) registeredAt!: Date;
  @Column({ ...timestamp, name: 'updated_at' }) updatedAt!: Date;
}

@Entity({ schema: LIVE_SCHEMA, name: 'vms' })
export class VmRow {
  @PrimaryColumn('uuid', { name: 'vm_id' }) vmId!: string;
  @Column('text') name!: string;
  @Column('text') role!: string;
  @Column('text', { name: 'power_state' }) powerState!: string;
  @Column('text') lifecycle!: string;
  @Column('uuid', { name: 'host_id' }) hostId!: string;
  @Column('uuid', { name: 'datastore_id' }) datastoreId!: string;
  @Column('jsonb') state!: ExistingVm;
  @Column({ ...timestamp, name: 'created_at' }) createdAt!: Date;
  @Column({ ...timestamp, name: 'updated_at' }) updatedAt!: Date;
  @Column('integer') version!: number;
}

@Entity({ schema: LIVE_SCHEMA, name: 'pools' })
export class PoolRow {
  @PrimaryColumn('uuid', { name: 'pool_id' }) poolId!: string;
  @Column('text') name!: string;
  @Column('text') lifecycle!: string;
  @Column('text', { name: 'image_status' }) imageStatus!: string;
  @Column('integer') machines!: number;
  @Column('integer') assigned!: number;
  @Column('jsonb') state!: ExistingPool;
  @Column({ ...timestamp, name: 'created_at' }) createdAt!: Date;
  @Column({ ...timestamp, name: 'updated_at' }) updatedAt!: Date;
  @Column('integer') version!: number;
}

@Entity({ schema: LIVE_SCHEMA, name: 'workers' })
export class WorkerRow {
  @PrimaryColumn('text', { name: 'worker_id' }) workerId!: string;
  @Column('text', { name: 'worker_group' }) group!: string;
  @Column('uuid', { name: 'datastore_ids', array: true }) datastoreIds!: string[];
  @Column({ ...timestamp, name: 'announced_at' }) announcedAt!: Date;
  @Column({ ...timestamp, name: 'updated_at' }) updatedAt!: Date;
}

@Entity({ schema: LIVE_SCHEMA, name: 'tasks' })
export class TaskRow {
  @PrimaryColumn('uuid', { name: 'task_id' }) taskId!: string;
  @Column('text') operation!: string;
  @Column('text', { name: 'target_type' }) targetType!: string;
  @Column('text', { name: 'target_id' }) targetId!: string;
  @Column('text') status!: string;
  @Column('boolean') implicit!: boolean;
  @Column('integer') attempt!: number;
  @Column('text', { name: 'worker_id', nullable: true }) workerId!: string | null;
  @Column('boolean', { name: 'cancel_requested' }) cancelRequested!: boolean;
  @Column('text', { name: 'error_code', nullable: true }) errorCode!: string | null;
  @Column('text', { name: 'error_message', nullable: true }) errorMessage!: string | null;
  @Column('jsonb', { name: 'error_reasons' }) errorReasons!: {
    code: string;
    detail: string;
    at?: string;
  }[];
  @Column('text', { name: 'actor_id' }) actorId!: string;
  @Column('text', { name: 'actor_role' }) actorRole!: string;
  @Column('uuid', { name: 'correlation_id' }) correlationId!: string;
  @Column({ ...timestamp, name: 'created_at' }) createdAt!: Date;
  @Column({ ...timestamp, name: 'updated_at' }) updatedAt!: Date;
  @Column({ ...timestamp, name: 'completed_at', nullable: true }) completedAt!: Date | null;
}

export const PROGRESS_UNITS = ['bytes', 'events'] as const;
export type ProgressUnit = (typeof PROGRESS_UNITS)[number];

@Entity({ schema: LIVE_SCHEMA, name: 'task_progress' })
export class TaskProgressRow {
  @PrimaryColumn('uuid', { name: 'task_id' }) taskId!: string;
  @Column('integer') attempt!: number;
  @Column('text') phase!: string;
  @Column('bigint', { transformer: bigintAsNumber }) done!: number;
  @Column('bigint', { transformer: bigintAsNumber }) total!: number;
  /** What done and total count: a worker's bytes, a rebuild's events. */
  @Column('text') unit!: ProgressUnit;
  @Column('double precision', { name: 'per_second', nullable: true }) perSecond!: number | null;
  @Column({ ...timestamp, name: 'reported_at' }) reportedAt!: Date;
}

@Entity({ schema: LIVE_SCHEMA, name: 'audit_log' })
export class AuditEntryRow {
  @PrimaryColumn('uuid', { name: 'event_id' }) eventId!: string;
  @Column('bigint', { name: 'global_position' }) globalPosition!: string;
  @Column('text', { name: 'stream_id' }) streamId!: string;
  @Column('text', { name: 'stream_type' }) streamType!: string;
  @Column('integer', { name: 'stream_version' }) streamVersion!: number;
  @Column('text') type!: string;
  @Column('integer', { name: 'schema_version' }) schemaVersion!: number;
  @Column('text', { name: 'actor_id' }) actorId!: string;
  @Column('text', { name: 'actor_role' }) actorRole!: string;
  @Column('uuid', { name: 'correlation_id' }) correlationId!: string;
  @Column('uuid', { name: 'causation_id', nullable: true }) causationId!: string | null;
  @Column('uuid', { name: 'task_id', nullable: true }) taskId!: string | null;
  @Column({ ...timestamp, name: 'occurred_at' }) occurredAt!: Date;
  @Column('jsonb') data!: unknown;
  /** The command that caused it; null for what Dolly did of itself. */
  @Column('text', { nullable: true }) command!: string | null;
}

@Entity({ schema: LIVE_SCHEMA, name: 'block_maps' })
export class BlockMapRow {
  @PrimaryColumn('uuid', { name: 'vm_id' }) vmId!: string;
  @PrimaryColumn('uuid', { name: 'disk_id' }) diskId!: string;
  @Column('text', { name: 'top_layer_id' }) topLayerId!: string;
  @Column('bigint', { name: 'capacity_bytes', transformer: bigintAsNumber }) capacityBytes!: number;
  @Column('bigint', { name: 'allocated_bytes', transformer: bigintAsNumber })
  allocatedBytes!: number;
  @Column('jsonb') extents!: DiskBlockMap['extents'];
  @Column('jsonb', { name: 'bytes_per_layer' }) bytesPerLayer!: DiskBlockMap['bytesPerLayer'];
  @Column({ ...timestamp, name: 'measured_at' }) measuredAt!: Date;
}

export const READ_MODEL_ENTITIES = [
  BlockMapRow,
  HostRow,
  DatastoreRow,
  VmRow,
  WorkerRow,
  PoolRow,
  TaskRow,
  TaskProgressRow,
  AuditEntryRow,
];
