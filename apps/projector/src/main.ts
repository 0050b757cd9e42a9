import 'reflect-metadata';
import { runService } from '@dolly/platform';
import { ProjectorModule } from './projector.module';

runService('projector', ProjectorModule, (config) => config.projectorPort);
