import 'reflect-metadata';
import { runService } from '@dolly/platform';
import { ApiModule } from './api.module';
import { setUpOpenApi } from './openapi';
import { IMPORT_PATH } from './vms/import-vm/import-vm.http.controller';

runService('api', ApiModule, (config) => config.apiPort, setUpOpenApi, {
  streamedBodyPaths: [IMPORT_PATH],
});
