import 'reflect-metadata';
import { runService } from '@dolly/platform';
import { WorkerModule } from './worker.module';

// The transfer endpoint reads a package's bytes as they come: its bodies are never parsed.
runService('worker', WorkerModule, (config) => config.workerPort, undefined, {
  streamedBodyPaths: ['/transfers/'],
});
