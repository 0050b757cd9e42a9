import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Snapshots of each object's state at every 32nd version of its stream, written by the state
 * projections as they fold (so a rebuild writes the same ones): an answer as of an instant folds
 * an object from its newest snapshot recorded by then, not from its first event. A cache only:
 * dropping every snapshot changes no answer.
 *
 * `latest_occurred_at` is the latest time of any event up to the snapshot's version (times need
 * not rise with versions): the snapshot stands for an instant given as a time only if all of
 * them had occurred by then. `created_at` and `occurred_at` are its first and own event's times.
 */
export class StateSnapshots1764000000022 implements MigrationInterface {
  name = 'StateSnapshots1764000000022';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE read_model.state_snapshots (
        stream_id text NOT NULL,
        stream_version integer NOT NULL,
        global_position bigint NOT NULL,
        created_at timestamptz NOT NULL,
        occurred_at timestamptz NOT NULL,
        latest_occurred_at timestamptz NOT NULL,
        state jsonb NOT NULL,
        PRIMARY KEY (stream_id, stream_version)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE read_model.state_snapshots`);
  }
}
