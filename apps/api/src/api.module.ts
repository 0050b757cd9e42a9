import { ExportAuditLogController } from './audit/export-audit-log.http.controller';
import { VerifyChainController } from './audit/verify-chain.http.controller';
import { VmLineageController } from './vms/lineage/vm-lineage.http.controller';
import { SubjectLineageController } from './vms/lineage/subject-lineage.http.controller';
import { InventoryDiffController } from './inventory/diff/inventory-diff.http.controller';
import { InventoryListController } from './inventory/list/inventory-list.http.controller';
import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { TypeOrmModule } from '@nestjs/typeorm';
import { PostgresEventStore } from '@dolly/event-store';
import { DOLLY_CONFIG, PG_POOL, PlatformModule } from '@dolly/platform';
import type { DollyConfig } from '@dolly/config';
import { READ_MODEL_ENTITIES } from '@dolly/read-models';
import type { Pool } from 'pg';
import { StreamAuditLogHandler } from './audit/audit.queries';
import { ContractsController } from './contracts/contracts.http.controller';
import { DatastoresController, HostsController } from './inventory/inventory.http.controller';
import {
  GetDatastoreHandler,
  GetQuarantineHandler,
  GetHostHandler,
  ListDatastoresHandler,
  ListHostsHandler,
} from './inventory/inventory.queries';
import { RegisterHostController } from './hosts/register-host/register-host.http.controller';
import { RegisterHostHandler } from './hosts/register-host/register-host.handler';
import { RenameDatastoreHandler } from './datastores/rename-datastore/rename-datastore.handler';
import { RegisterDatastoreController } from './datastores/register-datastore/register-datastore.http.controller';
import { RegisterDatastoreHandler } from './datastores/register-datastore/register-datastore.handler';
import { RenameDatastoreController } from './datastores/rename-datastore/rename-datastore.http.controller';
import { RemoveDatastoreController } from './datastores/remove-datastore/remove-datastore.http.controller';
import { RemoveDatastoreHandler } from './datastores/remove-datastore/remove-datastore.handler';
import { RestoreQuarantinedController } from './datastores/restore-quarantined/restore-quarantined.http.controller';
import { RestoreQuarantinedHandler } from './datastores/restore-quarantined/restore-quarantined.handler';
import { RebuildReadModelsController } from './admin/rebuild-read-models/rebuild-read-models.http.controller';
import { RebuildReadModelsHandler } from './admin/rebuild-read-models/rebuild-read-models.handler';
import { CommandRunner } from './shared/command-runner';
import { IdempotencyStore } from './shared/idempotency';
import { ProjectionWaiter } from './shared/projection-waiter';
import { CommandRateLimit, WaitSlots } from './shared/request-limits';
import { PipelineHealth } from './shared/pipeline-health';
import { GetTaskHandler, ListTasksHandler } from './tasks/task.queries';
import { TasksController } from './tasks/tasks.http.controller';
import { BlockMapController } from './vms/queries/block-map.http.controller';
import { CancelTaskController } from './tasks/cancel-task/cancel-task.http.controller';
import { CancelTaskHandler } from './tasks/cancel-task/cancel-task.handler';
import { CloneVmController } from './vms/clone-vm/clone-vm.http.controller';
import { ImportVmController } from './vms/import-vm/import-vm.http.controller';
import { ImportVmHandler } from './vms/import-vm/import-vm.handler';
import { ExportVmController } from './vms/export-vm/export-vm.http.controller';
import { ExportVmHandler } from './vms/export-vm/export-vm.handler';
import { WorkerTransfers } from './shared/worker-transfer';
import { SnapshotsController } from './vms/snapshots/snapshots.http.controller';
import { CloneTemplateController } from './templates/clone-template/clone-template.http.controller';
import { DeployFromTemplateController } from './templates/deploy/deploy.http.controller';
import { ChangePowerController } from './vms/change-power/change-power.http.controller';
import { ConvertVmController } from './vms/convert-vm/convert-vm.http.controller';
import { CreateVmController } from './vms/create-vm/create-vm.http.controller';
import { PlacementService } from './shared/placement';
import { DeleteVmController } from './vms/delete-vm/delete-vm.http.controller';
import { VmsQueryController } from './vms/queries/vms.http.controller';
import { GetVmHandler, ListVmsHandler } from './vms/queries/vm.queries';
import { RenameVmController } from './vms/rename-vm/rename-vm.http.controller';
import { CreateVmHandler } from './vms/create-vm/create-vm.handler';
import { CloneVmHandler } from './vms/clone-vm/clone-vm.handler';
import { ChangePowerHandler } from './vms/change-power/change-power.handler';
import { SnapshotHandler } from './vms/snapshots/snapshots.handler';
import { ConvertVmHandler } from './vms/convert-vm/convert-vm.handler';
import { RenameVmHandler } from './vms/rename-vm/rename-vm.handler';
import { DeleteVmHandler } from './vms/delete-vm/delete-vm.handler';
import { VmDecisions } from './vms/vm-operations';
import { ForkInstantCloneController } from './vms/fork-instant-clone/fork-instant-clone.http.controller';
import { ForkInstantCloneHandler } from './vms/fork-instant-clone/fork-instant-clone.handler';
import { PoolDecisions } from './pools/pool-operations';
import { CreatePoolController } from './pools/create-pool/create-pool.http.controller';
import { CreatePoolHandler } from './pools/create-pool/create-pool.handler';
import { EditPoolController } from './pools/edit-pool/edit-pool.http.controller';
import { EditPoolHandler } from './pools/edit-pool/edit-pool.handler';
import { DeletePoolController } from './pools/delete-pool/delete-pool.http.controller';
import { DeletePoolHandler } from './pools/delete-pool/delete-pool.handler';
import { EntitleController } from './pools/entitle/entitle.http.controller';
import { EntitleUserHandler } from './pools/entitle/entitle.handler';
import { LogOffController } from './pools/logoff/logoff.http.controller';
import { LogOffHandler } from './pools/logoff/logoff.handler';
import { RefreshMachineController } from './pools/refresh/refresh.http.controller';
import { RefreshMachineHandler } from './pools/refresh/refresh.handler';
import { RemoveMachineController } from './pools/remove-machine/remove-machine.http.controller';
import { RemoveMachineHandler } from './pools/remove-machine/remove-machine.handler';
import { PushImageController } from './pools/push-image/push-image.http.controller';
import { PushImageHandler } from './pools/push-image/push-image.handler';
import { RollbackImageController } from './pools/rollback-image/rollback-image.http.controller';
import { RollbackImageHandler } from './pools/rollback-image/rollback-image.handler';
import { SchedulePushHandler } from './pools/schedule-push/schedule-push.handler';
import { UnschedulePushController } from './pools/schedule-push/unschedule-push.http.controller';
import { UnschedulePushHandler } from './pools/schedule-push/unschedule-push.handler';
import { StartScheduledPushHandler } from './pools/schedule-push/start-scheduled-push.handler';
import { PushScheduler } from './pools/schedule-push/push-scheduler';
import { RecoverPoolController } from './pools/recover/recover.http.controller';
import { RecoverPoolHandler } from './pools/recover/recover.handler';
import { GetPoolHandler, ListPoolsHandler } from './pools/queries/pool.queries';
import { PoolsController } from './pools/queries/pools.http.controller';

@Module({
  imports: [
    PlatformModule.forRoot({ service: 'api', entities: READ_MODEL_ENTITIES, poolSize: 30 }),
    TypeOrmModule.forFeature(READ_MODEL_ENTITIES),
    CqrsModule.forRoot(),
  ],
  controllers: [
    CreateVmController,
    ChangePowerController,
    RenameVmController,
    DeleteVmController,
    ConvertVmController,
    VmsQueryController,
    VerifyChainController,
    ExportAuditLogController,
    VmLineageController,
    SubjectLineageController,
    InventoryDiffController,
    InventoryListController,
    RegisterHostController,
    HostsController,
    DatastoresController,
    RegisterDatastoreController,
    RenameDatastoreController,
    RemoveDatastoreController,
    RestoreQuarantinedController,
    RebuildReadModelsController,
    TasksController,
    CancelTaskController,
    BlockMapController,
    CloneVmController,
    ImportVmController,
    ExportVmController,
    SnapshotsController,
    CloneTemplateController,
    DeployFromTemplateController,
    ContractsController,
    ForkInstantCloneController,
    CreatePoolController,
    PoolsController,
    EditPoolController,
    DeletePoolController,
    EntitleController,
    LogOffController,
    RefreshMachineController,
    RemoveMachineController,
    PushImageController,
    UnschedulePushController,
    RecoverPoolController,
    RollbackImageController,
  ],
  providers: [
    {
      provide: PostgresEventStore,
      inject: [PG_POOL, DOLLY_CONFIG],
      useFactory: (pool: Pool, config: DollyConfig) =>
        new PostgresEventStore(pool, { maxEventBytes: config.eventMaxBytes, groupCommits: true }),
    },
    CommandRunner,
    IdempotencyStore,
    ProjectionWaiter,
    WaitSlots,
    { provide: APP_INTERCEPTOR, useClass: CommandRateLimit },
    PipelineHealth,
    VmDecisions,
    CreateVmHandler,
    CloneVmHandler,
    ImportVmHandler,
    ExportVmHandler,
    WorkerTransfers,
    ChangePowerHandler,
    SnapshotHandler,
    ConvertVmHandler,
    RenameVmHandler,
    DeleteVmHandler,
    ForkInstantCloneHandler,
    PoolDecisions,
    CreatePoolHandler,
    EditPoolHandler,
    DeletePoolHandler,
    EntitleUserHandler,
    LogOffHandler,
    RefreshMachineHandler,
    RemoveMachineHandler,
    PushImageHandler,
    RollbackImageHandler,
    SchedulePushHandler,
    UnschedulePushHandler,
    StartScheduledPushHandler,
    RecoverPoolHandler,
    PushScheduler,
    ListPoolsHandler,
    GetPoolHandler,
    PlacementService,
    RegisterHostHandler,
    RenameDatastoreHandler,
    RegisterDatastoreHandler,
    RemoveDatastoreHandler,
    RestoreQuarantinedHandler,
    RebuildReadModelsHandler,
    ListVmsHandler,
    GetVmHandler,
    StreamAuditLogHandler,
    ListHostsHandler,
    GetHostHandler,
    ListDatastoresHandler,
    GetDatastoreHandler,
    GetQuarantineHandler,
    ListTasksHandler,
    GetTaskHandler,
    CancelTaskHandler,
  ],
})
export class ApiModule {}
