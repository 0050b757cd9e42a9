import 'reflect-metadata';
import { runService } from '@dolly/platform';
import { ApiModule } from './api.module';
import { setUpOpenApi } from './openapi';

runService('api', ApiModule, (config) => config.apiPort, setUpOpenApi);
