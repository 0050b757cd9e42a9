import { Module } from '@nestjs/common';
import { PlatformModule } from '@dolly/platform';
import { ProjectorConsumer } from './projector.consumer';
import { RelayService } from './relay.service';

@Module({
  imports: [PlatformModule.forRoot({ service: 'projector', poolSize: 5 })],
  providers: [ProjectorConsumer, RelayService],
})
export class ProjectorModule {}
