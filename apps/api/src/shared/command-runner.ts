import { Inject, Injectable } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { streamIdOf } from '@dolly/domain';
import { PostgresEventStore, checkOut } from '@dolly/event-store';
import { PG_POOL } from '@dolly/platform';
import type { Response } from 'express';
import type { Pool } from 'pg';
import type { CommandAccepted } from './command-accepted.representation';
import type { CommandOutcome, DollyCommand, Execution } from './command-execution';
import {
  IdempotencyRaceLostError,
  IdempotencyStore,
  type StoredResponse,
  requestFingerprint,
} from './idempotency';
import { ProjectionWaiter } from './projection-waiter';
import { taskSettled } from './task-settled';
import { WaitSlots } from './request-limits';
import { resourcePath, taskPath } from './resource-paths';
import { GetTask } from '../tasks/task.queries';

/** A request's Idempotency-Key, as CommandRunner.keyedAnswer reads it. */
export interface KeyedAnswer {
  stored: StoredResponse | undefined;
  replay(): Promise<StoredResponse | undefined>;
  rememberNoOp(answer: StoredResponse): Promise<void>;
}

/**
 * Runs a command for an HTTP request: answers a retried Idempotency-Key with its first answer,
 * dispatches on the command bus and, when the client prefers to wait, waits for the projector
 * before answering with the changed resource.
 */
@Injectable()
export class CommandRunner {
  constructor(
    private readonly bus: CommandBus,
    private readonly queries: QueryBus,
    private readonly idempotency: IdempotencyStore,
    private readonly waiter: ProjectionWaiter,
    private readonly slots: WaitSlots,
    private readonly store: PostgresEventStore,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  async run<D>(
    response: Response,
    command: DollyCommand<D>,
    present: (outcome: CommandOutcome) => Promise<unknown>,
    options: { creates?: boolean } = {},
  ): Promise<void> {
    // A request that will wait takes its place before anything is decided: refused (429), it
    // changed nothing and may simply be sent again.
    const release = command.execution.context.waitSeconds
      ? this.slots.take(command.execution.context.principal)
      : () => undefined;
    try {
      await this.runAndAnswer(response, command, present, options);
    } finally {
      release();
    }
  }

  private async runAndAnswer<D>(
    response: Response,
    command: DollyCommand<D>,
    present: (outcome: CommandOutcome) => Promise<unknown>,
    options: { creates?: boolean },
  ): Promise<void> {
    const { execution } = command;
    const { context } = execution;
    const keyed = await this.keyedAnswer(execution, context.body);
    if (keyed?.stored) return this.send(response, keyed.stored, true);

    const decided = await this.executeKeyed<CommandOutcome>(command, keyed);
    if ('replayed' in decided) return this.send(response, decided.replayed, true);
    const { outcome } = decided;

    const answer = this.accepted(execution, outcome);
    if (!outcome.changed) {
      // Nothing was appended, so nothing recorded the key: the no-op answer is remembered on its
      // own.
      await keyed?.rememberNoOp(answer);
      return this.send(response, answer, false);
    }

    if (context.waitSeconds) {
      response.setHeader('Preference-Applied', `wait=${context.waitSeconds}`);
      const settled = await taskSettled(
        this.waiter,
        this.store,
        { taskId: execution.taskId, byWorker: outcome.async === true },
        {
          streamId: streamIdOf({ kind: outcome.target.type, id: outcome.target.id }),
          atLeastVersion: outcome.streamVersion,
        },
        context.waitSeconds * 1000,
      );
      if (settled.ended && settled.projected) {
        const task = await this.queries.execute(new GetTask(execution.taskId));
        const body = { ...(answer.body as CommandAccepted), projected: true, task };
        // A task that ended without its effect has no changed resource to show: the task says why.
        if (task.status !== 'succeeded')
          return this.send(response, { status: 200, headers: answer.headers, body }, false);
        const location = resourcePath(outcome.target.type, outcome.target.id);
        return this.send(
          response,
          {
            status: options.creates ? 201 : 200,
            headers: { ...answer.headers, location },
            body: { ...body, resource: await present(outcome) },
          },
          false,
        );
      }
    }
    return this.send(response, answer, false);
  }

  /**
   * The Idempotency-Key of a command's request, fingerprinted by `request` (its JSON body, or what
   * stands for a body that is not JSON, as an upload's): null with no key. `stored` is the key's
   * first answer when this request was answered before; otherwise the answer is recorded with the
   * command's events, `replay` reads the answer of a request that raced it (the decision threw
   * IdempotencyRaceLostError), and `rememberNoOp` records an answer that appended nothing.
   */
  async keyedAnswer(execution: Execution, request: unknown): Promise<KeyedAnswer | null> {
    const { context } = execution;
    const key = context.idempotencyKey;
    if (!key) return null;
    const principal = context.principal.id;
    const fingerprint = requestFingerprint(context.method, context.path, request);
    const stored = await this.idempotency.replay(principal, key, fingerprint);
    if (!stored)
      execution.alsoInTransaction = (client, outcome) =>
        this.idempotency.record(
          client,
          principal,
          key,
          fingerprint,
          this.accepted(execution, outcome),
        );
    return {
      stored,
      replay: () => this.idempotency.replay(principal, key, fingerprint),
      rememberNoOp: async (answer) => {
        const client = await checkOut(this.pool);
        try {
          await this.idempotency
            .record(client, principal, key, fingerprint, answer)
            .catch(() => undefined);
        } finally {
          client.release();
        }
      },
    };
  }

  /**
   * Executes a command whose request may carry an Idempotency-Key: when a request with the same
   * key raced it and won (the decision threw IdempotencyRaceLostError), that request's stored
   * answer comes back as `replayed`.
   */
  async executeKeyed<O extends CommandOutcome>(
    command: DollyCommand<unknown>,
    keyed: KeyedAnswer | null,
  ): Promise<{ outcome: O } | { replayed: StoredResponse }> {
    try {
      return { outcome: (await this.bus.execute(command)) as O };
    } catch (error) {
      const stored = error instanceof IdempotencyRaceLostError ? await keyed?.replay() : undefined;
      if (!stored) throw error;
      return { replayed: stored };
    }
  }

  /** Sends an answer stored for an Idempotency-Key, marked as replayed. */
  sendReplayed(response: Response, stored: StoredResponse): void {
    this.send(response, stored, true);
  }

  private accepted(execution: Execution, outcome: CommandOutcome): StoredResponse {
    const target = { ...outcome.target, version: outcome.streamVersion };
    const body: CommandAccepted = {
      taskId: outcome.changed ? execution.taskId : null,
      status: outcome.async ? 'queued' : 'succeeded',
      changed: outcome.changed,
      projected: false,
      target,
      links: {
        task: outcome.changed ? taskPath(execution.taskId) : null,
        target: resourcePath(target.type, target.id),
      },
      ...(outcome.result === undefined ? {} : { result: outcome.result }),
    };
    const headers: Record<string, string> = { etag: `"${outcome.streamVersion}"` };
    if (outcome.changed) headers.location = taskPath(execution.taskId);
    return { status: outcome.changed ? 202 : 200, headers, body };
  }

  /** Commands answer with the status they decide (202, 200, 201), so they write the response themselves. */
  private send(response: Response, stored: StoredResponse, replayed: boolean): void {
    for (const [name, value] of Object.entries(stored.headers)) response.setHeader(name, value);
    if (replayed) response.setHeader('Idempotent-Replayed', 'true');
    response.status(stored.status).json(stored.body);
  }
}
