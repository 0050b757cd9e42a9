import type { RecordedEvent } from '@dolly/contracts';
import type { PoolClient } from 'pg';

/**
 * Where a projection writes: a schema holding the read-model tables. The live tables are in
 * `read_model`; a rebuild writes the same projections into a fresh schema.
 */
export class ProjectionTarget {
  constructor(
    readonly client: PoolClient,
    readonly schema: string,
  ) {}

  /** A read-model table's qualified, quoted name in this target's schema. */
  table(name: string): string {
    return `${this.client.escapeIdentifier(this.schema)}.${this.client.escapeIdentifier(name)}`;
  }

  query(sql: string, params: unknown[]): Promise<unknown> {
    return this.client.query(sql, params);
  }
}

/**
 * A read model: the tables it owns and how events change them. One that does not depend on the
 * order of events across streams may apply a whole batch in one statement (`applyAll`).
 */
export type Projection = {
  name: string;
  tables: readonly string[];
  /** Whether this projection wants the event; the others are never shown it. */
  handles(event: RecordedEvent): boolean;
  /**
   * For a projection whose rows are the store's own, copied: fills its tables in `target` with
   * every event of a transaction that had ended before `horizon` (an xid8), inside PostgreSQL
   * as far as it can, as applying them one by one would. A rebuild runs it beside the replay of
   * the others.
   */
  copyFromStore?(target: ProjectionTarget, horizon: string): Promise<void>;
} & (
  | { apply(event: RecordedEvent, target: ProjectionTarget): Promise<void> }
  | { applyAll(events: readonly RecordedEvent[], target: ProjectionTarget): Promise<void> }
);

export const LIVE_SCHEMA = 'read_model';

/** PostgreSQL channel the projector notifies after each committed batch (the API waits on it). */
export const PROJECTED_CHANNEL = 'dolly_projected';
