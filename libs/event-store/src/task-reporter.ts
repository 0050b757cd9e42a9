import {
  type IdSource,
  type Job,
  type JobEnding,
  type JobOutcome,
  type Measurements,
  type TaskState,
  type Workspace,
  abandonJob,
  completeJob,
  jobOutcomeStreams,
  stream,
  taskDecider,
  taskStreamId,
} from '@dolly/domain';
import type { EventMetadata } from '@dolly/contracts';
import { type Decision, decideAcross, streamState } from './decide-across';
import type { PostgresEventStore } from './event-store';
import { onStream } from './slots';

/**
 * What the one doing a task (a worker; a projector, for a rebuild) writes to the store about it:
 * that its attempt started, and how it ended. Every write is decided against the task's current
 * state, so an attempt that a newer one replaced (the worker lost its partition, or was thought
 * dead) can no longer report anything.
 */
export class TaskReporter {
  constructor(
    private readonly store: PostgresEventStore,
    /** Who runs the task: a task's `workerId` names it, whatever its role. */
    private readonly actor: { id: string; role: 'worker' | 'projector' },
    private readonly ids: IdSource,
  ) {}

  private metadata(taskId: string, correlationId: string, command: string): EventMetadata {
    return { correlationId, causationId: null, actor: this.actor, taskId, command };
  }

  async task(taskId: string): Promise<TaskState> {
    return streamState(this.store, taskDecider, taskStreamId(taskId));
  }

  /**
   * Starts the next attempt; null when the task ended meanwhile (cancelled before it started, done
   * by another). A running task's attempt is replaced (its message came again: the worker that
   * held it is thought gone) unless `onlyIfQueued`.
   */
  async start(
    taskId: string,
    correlationId: string,
    { onlyIfQueued = false } = {},
  ): Promise<{ attempt: number; job: Job } | null> {
    const outcome = await this.decide(
      taskId,
      correlationId,
      'StartTask',
      onStream(stream('task', taskId), (task) => {
        if (task.status !== 'queued' && (onlyIfQueued || task.status !== 'running')) return [];
        return taskDecider.decide(
          { type: 'StartTask', data: { taskId, workerId: this.actor.id } },
          task,
          undefined,
        );
      }),
    );
    const started = outcome.events.get(taskStreamId(taskId))?.find((e) => e.type === 'TaskStarted');
    if (!started) return null;
    const state = await this.task(taskId);
    if (state.status !== 'running') return null;
    return { attempt: (started.data as { attempt: number }).attempt, job: state.job };
  }

  /**
   * Says where the API reaches this attempt's transfer (import upload, export download); refused
   * (TASK.ATTEMPT_SUPERSEDED...) once the attempt is no longer the task's current one.
   */
  async openTransfer(
    taskId: string,
    correlationId: string,
    attempt: number,
    url: string,
  ): Promise<void> {
    await this.decide(
      taskId,
      correlationId,
      'OpenTransfer',
      onStream(stream('task', taskId), (task) =>
        taskDecider.decide(
          { type: 'OpenTransfer', data: { taskId, attempt, url } },
          task,
          undefined,
        ),
      ),
    );
  }

  async succeeded(
    taskId: string,
    correlationId: string,
    attempt: number,
    outcome: JobOutcome,
    measured?: Measurements,
  ): Promise<void> {
    await this.decideOutcome(taskId, correlationId, 'CompleteTask', (ws) =>
      completeJob(ws, { taskId, attempt, workerId: this.actor.id, outcome, measured }, this.ids),
    );
  }

  async ended(
    taskId: string,
    correlationId: string,
    attempt: number,
    ending: Pick<JobEnding, 'cancelled' | 'code' | 'message' | 'reasons'>,
  ): Promise<void> {
    const command = ending.cancelled ? 'CancelTask' : 'FailTask';
    await this.decideOutcome(taskId, correlationId, command, (ws) =>
      abandonJob(ws, { taskId, attempt, ...ending }, this.ids),
    );
  }

  /** The domain decides what the outcome does, on the streams it names for the task's job. */
  private async decideOutcome(
    taskId: string,
    correlationId: string,
    command: string,
    decide: (ws: Workspace) => void,
  ): Promise<void> {
    const task = await this.task(taskId);
    if (task.status === 'absent') return;
    await this.decide(taskId, correlationId, command, {
      ...jobOutcomeStreams(taskId, task.job),
      decide,
    });
  }

  private decide<Result>(
    taskId: string,
    correlationId: string,
    command: string,
    decision: Decision<Result>,
  ) {
    return decideAcross(this.store, {
      ...decision,
      metadata: this.metadata(taskId, correlationId, command),
      now: new Date().toISOString(),
    });
  }
}
