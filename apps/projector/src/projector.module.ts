import { Module } from '@nestjs/common';
import { DeadLetters, PlatformModule } from '@dolly/platform';
import { ProjectorConsumer } from './projector.consumer';
import { ProgressConsumer } from './progress.consumer';
import { RelayService } from './relay.service';
import { ChainCheckpoints } from './chain-checkpoints.service';
import { JobRedelivery } from './job-redelivery.service';

@Module({
  imports: [PlatformModule.forRoot({ service: 'projector', poolSize: 5 })],
  providers: [
    DeadLetters,
    ProjectorConsumer,
    RelayService,
    ProgressConsumer,
    JobRedelivery,
    ChainCheckpoints,
  ],
})
export class ProjectorModule {}
