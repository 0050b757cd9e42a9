import { Module } from '@nestjs/common';
import { DeadLetters, PlatformModule } from '@dolly/platform';
import { ProjectorConsumer } from './projector.consumer';
import { ProgressConsumer } from './progress.consumer';
import { RelayService } from './relay.service';
import { ChainCheckpoints } from './chain-checkpoints.service';
import { JobRedelivery } from './job-redelivery.service';
import { ReadModelRebuilds } from './read-model-rebuilds.service';

@Module({
  imports: [PlatformModule.forRoot({ service: 'projector', poolSize: 6 })],
  providers: [
    DeadLetters,
    ProjectorConsumer,
    RelayService,
    ProgressConsumer,
    JobRedelivery,
    ChainCheckpoints,
    ReadModelRebuilds,
  ],
})
export class ProjectorModule {}
