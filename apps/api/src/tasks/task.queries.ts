import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import { NotFoundError, objectIdOf } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { TaskProgressRow, TaskRow } from '@dolly/read-models';
import { In, Repository } from 'typeorm';
import { type Page, findPage } from '../shared/pagination';
import { type TaskView, progressView, taskView } from './task.representation';

export class ListTasks extends Query<Page<TaskView>> {
  constructor(
    readonly filter: { targetId?: string; status?: string },
    readonly limit: number,
    readonly cursor?: string,
  ) {
    super();
  }
}

export class GetTask extends Query<TaskView> {
  constructor(readonly taskId: string) {
    super();
  }
}

@QueryHandler(ListTasks)
export class ListTasksHandler implements IQueryHandler<ListTasks> {
  constructor(
    @InjectRepository(TaskRow) private readonly tasks: Repository<TaskRow>,
    @InjectRepository(TaskProgressRow) private readonly progress: Repository<TaskProgressRow>,
  ) {}

  async execute({ filter, limit, cursor }: ListTasks): Promise<Page<TaskView>> {
    const page = await findPage(this.tasks, {
      where: filter,
      key: 'taskId',
      limit,
      cursor,
      view: (row) => row,
    });
    const running = page.items.filter((row) => row.status === 'running').map((row) => row.taskId);
    const progress = running.length ? await this.progress.findBy({ taskId: In(running) }) : [];
    return {
      items: page.items.map((row) =>
        taskView(row, progress.find((p) => p.taskId === row.taskId) ?? null),
      ),
      nextCursor: page.nextCursor,
    };
  }
}

/**
 * A task is in the read model once projected; until then its events are already in the store, so
 * a client that asks right after the 202 learns it succeeded (or is queued) rather than getting a
 * 404. A task a worker does has a stream of its own: until that stream is projected, the row made
 * from its other events' metadata (implicit) does not tell how it is, and the store does.
 */
@QueryHandler(GetTask)
export class GetTaskHandler implements IQueryHandler<GetTask> {
  constructor(
    @InjectRepository(TaskRow) private readonly tasks: Repository<TaskRow>,
    @InjectRepository(TaskProgressRow) private readonly progress: Repository<TaskProgressRow>,
    @Inject(PostgresEventStore) private readonly store: PostgresEventStore,
  ) {}

  async execute({ taskId }: GetTask): Promise<TaskView> {
    const row = await this.tasks.findOneBy({ taskId });
    if (row && !row.implicit) return taskView(row, await this.progress.findOneBy({ taskId }));
    const events = await this.store.readTask(taskId);
    const byWorker = events.some((event) => event.streamType === 'task');
    if (row && !byWorker) return taskView(row);
    if (events.length === 0)
      throw new NotFoundError('TASK.NOT_FOUND', `Task ${taskId} does not exist`);
    const first = events[0];
    const last = events[events.length - 1];
    return {
      taskId,
      operation: first.metadata.command ?? first.type,
      target: { type: first.streamType, id: objectIdOf(first.streamId) },
      status: byWorker ? 'queued' : 'succeeded',
      attempt: 0,
      workerId: null,
      cancelRequested: false,
      progress: progressView(byWorker ? 0 : 100, null, null),
      error: null,
      actor: first.metadata.actor,
      correlationId: first.metadata.correlationId,
      projected: false,
      createdAt: first.occurredAt,
      updatedAt: last.occurredAt,
      completedAt: byWorker ? null : last.occurredAt,
    };
  }
}
