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
import { DecideDatastoreHandler, DecideHostHandler } from './inventory/register.commands';
import { RegisterDatastoreController } from './datastores/register-datastore/register-datastore.http.controller';
import { RegisterDatastoreHandler } from './datastores/register-datastore/register-datastore.handler';
import { RenameDatastoreController } from './datastores/rename-datastore/rename-datastore.http.controller';
import { RemoveDatastoreController } from './datastores/remove-datastore/remove-datastore.http.controller';
import { RemoveDatastoreHandler } from './datastores/remove-datastore/remove-datastore.handler';
import { RestoreQuarantinedController } from './datastores/restore-quarantined/restore-quarantined.http.controller';
import { RestoreQuarantinedHandler } from './datastores/restore-quarantined/restore-quarantined.handler';
import { CommandRunner } from './shared/command-runner';
import { IdempotencyStore } from './shared/idempotency';
import { ProjectionWaiter } from './shared/projection-waiter';
import { CommandRateLimit, WaitSlots } from './shared/request-limits';
import { PipelineHealth } from './shared/pipeline-health';
import { GetTaskHandler, ListTasksHandler } from './tasks/task.queries';
import { TasksController } from './tasks/tasks.http.controller';
import { BlockMapController } from './vms/queries/block-map.http.controller';
import { CancelTaskHandler } from './tasks/cancel-task';
import { CloneVmController } from './vms/clone-vm/clone-vm.http.controller';
import { SnapshotsController } from './vms/snapshots/snapshots.http.controller';
import { TemplatesController } from './templates/templates.http.controller';
import { ChangePowerController } from './vms/change-power/change-power.http.controller';
import { ConvertVmController } from './vms/convert-vm/convert-vm.http.controller';
import { CreateVmController } from './vms/create-vm/create-vm.http.controller';
import { OperateOnVmHandler } from './vms/vm-operations';
import { PlacementService } from './shared/placement';
import { DeleteVmController } from './vms/delete-vm/delete-vm.http.controller';
import { VmsQueryController } from './vms/queries/vms.http.controller';
import { GetVmHandler, ListVmsHandler } from './vms/queries/vm.queries';
import { RenameVmController } from './vms/rename-vm/rename-vm.http.controller';
import { InstantCloneController } from './vms/instant-clone.http.controller';
import { OperateOnPoolHandler } from './pools/pool-operations';
import { PushScheduler } from './pools/push-scheduler';
import { GetPoolHandler, ListPoolsHandler } from './pools/pool.queries';
import { PoolsController } from './pools/pools.http.controller';

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
    HostsController,
    DatastoresController,
    RegisterDatastoreController,
    RenameDatastoreController,
    RemoveDatastoreController,
    RestoreQuarantinedController,
    TasksController,
    BlockMapController,
    CloneVmController,
    SnapshotsController,
    TemplatesController,
    ContractsController,
    InstantCloneController,
    PoolsController,
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
    OperateOnVmHandler,
    OperateOnPoolHandler,
    PushScheduler,
    ListPoolsHandler,
    GetPoolHandler,
    PlacementService,
    DecideHostHandler,
    DecideDatastoreHandler,
    RegisterDatastoreHandler,
    RemoveDatastoreHandler,
    RestoreQuarantinedHandler,
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
