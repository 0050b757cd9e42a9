/**
 * Block jobs watched to their end. A job is started with auto-dismiss off; its listener is in
 * place before the command is sent (QEMU may report a status before it answers), and the job is
 * followed on JOB_STATUS_CHANGE events (no polling) until `concluded`, when query-jobs says
 * whether it failed and job-dismiss removes it. Progress, when asked for, is sampled from
 * query-jobs; cancelling sends job-cancel and still waits for the job to conclude.
 */
import { DiskEngineError } from '../errors';
import { type JobInfo, type JobStatus } from './qmp-commands';
import { type QmpClient, QmpCommandError } from './qmp-client';

export interface JobRunOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  progressIntervalMs?: number;
  /** Jobs that wait in `ready` (mirror, active commit) are completed when they get there. */
  completeWhenReady?: boolean;
}

type Watcher = (status: JobStatus) => void;

export class JobSupervisor {
  private readonly watchers = new Map<string, Watcher>();
  private nextJob = 1;

  constructor(private readonly qmp: QmpClient) {
    qmp.on('JOB_STATUS_CHANGE', ({ id, status }) => this.watchers.get(id)?.(status));
    qmp.onDisconnect(() => [...this.watchers.values()].forEach((watcher) => watcher('null')));
  }

  newJobId(kind: string): string {
    return `${kind}-${this.nextJob++}`;
  }

  /** Runs `start` (the command that creates job `jobId`) and resolves when the job ended well. */
  run(jobId: string, start: () => Promise<unknown>, options: JobRunOptions = {}): Promise<void> {
    const { signal, onProgress } = options;
    return new Promise<void>((resolve, reject) => {
      let cancelled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (error?: Error) => {
        this.watchers.delete(jobId);
        if (timer) clearInterval(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      };
      const onAbort = () => {
        cancelled = true;
        this.qmp.execute('job-cancel', { id: jobId }).catch(() => undefined);
      };
      const conclude = async () => {
        const info = (await this.qmp.execute('query-jobs', {})).find((j) => j.id === jobId);
        await this.qmp.execute('job-dismiss', { id: jobId });
        if (cancelled)
          throw new DiskEngineError('DISK.CANCELLED', `job ${jobId} cancelled`, { jobId });
        if (info?.error !== undefined) {
          throw new DiskEngineError('DISK.QEMU_FAILED', `job ${jobId} failed`, {
            jobId,
            error: info.error,
          });
        }
      };
      this.watchers.set(jobId, (status) => {
        switch (status) {
          case 'ready':
            if (options.completeWhenReady && !cancelled) {
              this.qmp.execute('job-complete', { id: jobId }).catch((e: Error) => finish(e));
            }
            return;
          case 'concluded':
            this.watchers.delete(jobId);
            conclude().then(() => finish(), finish);
            return;
          case 'null':
            // Dismissed by someone else, or the daemon went away: the outcome is unknown.
            finish(
              new DiskEngineError('DISK.DAEMON_UNAVAILABLE', `job ${jobId} vanished`, { jobId }),
            );
            return;
          default:
            return;
        }
      });
      if (signal?.aborted) {
        finish(
          new DiskEngineError('DISK.CANCELLED', `job ${jobId} cancelled before start`, { jobId }),
        );
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      start().then(
        () => {
          if (onProgress) {
            timer = setInterval(() => {
              this.qmp
                .execute('query-jobs', {})
                .then((jobs: JobInfo[]) => {
                  const job = jobs.find((j) => j.id === jobId);
                  if (job) onProgress(job['current-progress'], job['total-progress']);
                })
                .catch(() => undefined);
            }, options.progressIntervalMs ?? 250);
          }
        },
        (error: Error) => finish(error instanceof QmpCommandError ? qmpFailure(error) : error),
      );
    });
  }
}

/** QMP refusals as stable codes: by error class only, the description is for humans. */
export function qmpFailure(error: QmpCommandError): DiskEngineError {
  const code = error.errorClass === 'DeviceNotFound' ? 'DISK.NOT_FOUND' : 'DISK.QEMU_FAILED';
  return new DiskEngineError(code, error.message, {
    command: error.command,
    errorClass: error.errorClass,
    desc: error.desc,
  });
}
