import { type StreamType, currentSchemaVersion } from '@dolly/contracts';
import type { Pool } from 'pg';
import {
  type AppendResult,
  type NewEvent,
  type PostgresEventStore,
  placedEvent,
} from './event-store';
import { checkOut } from './check-out';

interface PendingAppend {
  streamId: string;
  streamType: StreamType;
  expectedVersion: number;
  events: readonly NewEvent[];
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

// Many streams' appends in one statement: each stream is checked against its expected version and
// written only if it matches; a stream someone else wrote concurrently is skipped, not an error.
const BATCH_APPEND_SQL = `
  WITH input AS (
    SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::int[], $5::int[], $6::uuid[], $7::text[], $8::int[],
                         $9::jsonb[], $10::jsonb[], $11::timestamptz[])
      AS i(request, stream_id, stream_type, expected, n, event_id, type, schema_version, data, metadata, occurred_at)
  ), current_versions AS (
    SELECT s.stream_id,
           coalesce((SELECT max(e.stream_version) FROM event_store.events e WHERE e.stream_id = s.stream_id), 0) AS version
      FROM (SELECT DISTINCT stream_id FROM input) s
  ), appended AS (
    INSERT INTO event_store.events
      (event_id, stream_id, stream_type, stream_version, type, schema_version, data, metadata, occurred_at)
    SELECT i.event_id, i.stream_id, i.stream_type, c.version + i.n, i.type, i.schema_version, i.data, i.metadata, i.occurred_at
      FROM input i JOIN current_versions c USING (stream_id)
     WHERE c.version = i.expected
     ORDER BY i.request, i.n
    ON CONFLICT (stream_id, stream_version) DO NOTHING
    RETURNING global_position, stream_id, stream_version
  ), outboxed AS (
    INSERT INTO event_store.outbox (global_position) SELECT global_position FROM appended
  )
  SELECT c.stream_id, c.version AS previous_version, a.global_position::text AS global_position, a.stream_version
    FROM current_versions c LEFT JOIN appended a USING (stream_id)
   ORDER BY a.stream_version`;

/**
 * Group commit for appends. While one batch is being written, appends queue; the next batch
 * takes them all at once (one statement, one commit). Idle, an append goes alone and waits for
 * nobody; under load, commits are shared and the store's throughput is no longer one commit per
 * command. Each stream appears at most once per batch, so a batch never conflicts with itself.
 */
export class BatchedAppends {
  private readonly queue: PendingAppend[] = [];
  private flushing = false;

  constructor(
    private readonly pool: Pool,
    private readonly store: PostgresEventStore,
    private readonly maxBatch = 500,
  ) {}

  append(
    streamId: string,
    streamType: StreamType,
    expectedVersion: number,
    events: readonly NewEvent[],
  ): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      // An oversized event is refused at once, and alone: the others of its batch go on.
      this.store.refuseOversized(streamId, streamType, events);
      this.queue.push({ streamId, streamType, expectedVersion, events, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        try {
          await this.write(batch);
        } catch (error) {
          for (const pending of batch) pending.reject(error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Up to maxBatch appends, one per stream; a second append to a stream waits for the next batch. */
  private takeBatch(): PendingAppend[] {
    const batch: PendingAppend[] = [];
    const streams = new Set<string>();
    for (let i = 0; i < this.queue.length && batch.length < this.maxBatch;) {
      const pending = this.queue[i];
      if (streams.has(pending.streamId)) {
        i += 1;
        continue;
      }
      streams.add(pending.streamId);
      batch.push(pending);
      this.queue.splice(i, 1);
    }
    return batch;
  }

  private async write(batch: PendingAppend[]): Promise<void> {
    if (batch.length === 1) {
      const [only] = batch;
      only.resolve(
        await this.store.appendToStream(
          only.streamId,
          only.streamType,
          only.expectedVersion,
          only.events,
        ),
      );
      return;
    }
    const rows = batch.flatMap((pending, request) =>
      pending.events.map((event, index) => ({ pending, request, event, n: index + 1 })),
    );
    const params = [
      rows.map((r) => r.request),
      rows.map((r) => r.pending.streamId),
      rows.map((r) => r.pending.streamType),
      rows.map((r) => r.pending.expectedVersion),
      rows.map((r) => r.n),
      rows.map((r) => r.event.eventId),
      rows.map((r) => r.event.type),
      rows.map((r) => currentSchemaVersion(r.event.type)),
      rows.map((r) => JSON.stringify(r.event.data)),
      rows.map((r) => JSON.stringify(r.event.metadata)),
      rows.map((r) => r.event.occurredAt),
    ];
    // A multi-event append that lost part of its rows to a concurrent writer must not stay half
    // written: such a batch runs in a transaction that is rolled back, and each append is retried alone.
    const multiEvent = batch.some((pending) => pending.events.length > 1);
    const client = await checkOut(this.pool);
    let outcome: Map<
      string,
      { previousVersion: number; appended: { globalPosition: string; streamVersion: number }[] }
    >;
    try {
      if (multiEvent) await client.query('BEGIN');
      const { rows: result } = await client.query<{
        stream_id: string;
        previous_version: number;
        global_position: string | null;
        stream_version: number | null;
      }>(BATCH_APPEND_SQL, params);
      outcome = new Map();
      for (const row of result) {
        const entry = outcome.get(row.stream_id) ?? {
          previousVersion: row.previous_version,
          appended: [],
        };
        if (row.global_position !== null)
          entry.appended.push({
            globalPosition: row.global_position,
            streamVersion: row.stream_version!,
          });
        outcome.set(row.stream_id, entry);
      }
      const partial = batch.some((pending) => {
        const written = outcome.get(pending.streamId)?.appended.length ?? 0;
        return written > 0 && written < pending.events.length;
      });
      if (partial) {
        await client.query('ROLLBACK');
        client.release();
        for (const pending of batch) {
          pending.resolve(
            await this.store.appendToStream(
              pending.streamId,
              pending.streamType,
              pending.expectedVersion,
              pending.events,
            ),
          );
        }
        return;
      }
      if (multiEvent) await client.query('COMMIT');
    } catch (error) {
      if (multiEvent) await client.query('ROLLBACK').catch(() => undefined);
      client.release();
      throw error;
    }
    client.release();
    for (const pending of batch) {
      const { previousVersion, appended } = outcome.get(pending.streamId)!;
      if (appended.length === 0) {
        // Skipped: the version did not match, or a concurrent writer took it. Report what is committed.
        pending.resolve({
          success: false,
          actualVersion: await this.store.streamVersion(pending.streamId),
        });
        continue;
      }
      pending.resolve({
        success: true,
        nextStreamVersion: previousVersion + pending.events.length,
        events: pending.events.map((event, index) =>
          placedEvent(
            event,
            pending.streamId,
            pending.streamType,
            appended[index].streamVersion,
            appended[index].globalPosition,
          ),
        ),
      });
    }
  }
}
