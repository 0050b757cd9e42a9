/**
 * The worker's job runners, one file per job kind (`<kind>.job.ts`); this file only picks one.
 * Each does its disk work with the engine and returns what it did, the outcome its task records.
 */
import type { Job, JobOutcome } from '@dolly/domain';
import { clone } from './clone.job';
import { createDisks } from './create-disks.job';
import { deleteVm } from './delete-vm.job';
import { exportPackage } from './export.job';
import { fork } from './fork.job';
import { importPackage } from './import.job';
import { type JobContext } from './job-context';
import { poolImage } from './pool-image.job';
import { power } from './power.job';
import { refresh } from './refresh.job';
import { type RestoreOutcome, restoreQuarantined } from './restore-quarantined.job';
import { snapshot } from './snapshot.job';

export type { JobContext, RestoreOutcome };

/** What a job did: the outcome its task records. */
export type AnyOutcome = JobOutcome | RestoreOutcome;

/** Does a job's disk work with the engine; what it did comes back as the outcome the task records. */
export function runJob(job: Job, context: JobContext): Promise<AnyOutcome> {
  switch (job.kind) {
    case 'create-disks':
      return createDisks(job, context);
    case 'clone':
      return clone(job, context);
    case 'power':
      return power(job, context);
    case 'snapshot':
      return snapshot(job, context);
    case 'delete-vm':
      return deleteVm(job, context);
    case 'fork':
      return fork(job, context);
    case 'pool-image':
      return poolImage(job, context);
    case 'refresh':
      return refresh(job, context);
    case 'restore-quarantined':
      return restoreQuarantined(job, context);
    case 'import':
      return importPackage(job, context);
    case 'export':
      return exportPackage(job, context);
    case 'rebuild-read-models':
      // Placed on a projector: a worker never claims it (see JobsConsumer's claim).
      return Promise.reject(new Error('A projector rebuilds the read models, not a worker'));
  }
}
