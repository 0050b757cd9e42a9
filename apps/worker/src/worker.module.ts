import { Module } from '@nestjs/common';
import { DeadLetters, PlatformModule } from '@dolly/platform';
import { DataPlaneService, WORKER_SETTINGS } from './data-plane.service';
import { JobsConsumer } from './jobs.consumer';
import { TransferRegistry } from './transfers/transfer-registry';
import { TransfersController } from './transfers/transfers.http.controller';
import { workerSettings } from './worker-settings';

/** The clone worker: the data plane that does the disk work of tasks with the disk engine. */
@Module({
  imports: [PlatformModule.forRoot({ service: 'worker', poolSize: 5 })],
  controllers: [TransfersController],
  providers: [
    TransferRegistry,
    { provide: WORKER_SETTINGS, useFactory: () => workerSettings() },
    DataPlaneService,
    DeadLetters,
    JobsConsumer,
  ],
})
export class WorkerModule {}
