import 'reflect-metadata';
import { runService } from '@dolly/platform';
import { WorkerModule } from './worker.module';

runService('worker', WorkerModule, (config) => config.workerPort);
