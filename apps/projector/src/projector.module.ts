import { Module } from '@nestjs/common';
import { PlatformModule } from '@dolly/platform';
import { ProjectorConsumer } from './projector.consumer';

@Module({
  imports: [PlatformModule.forRoot({ service: 'projector', poolSize: 5 })],
  providers: [ProjectorConsumer],
})
export class ProjectorModule {}
