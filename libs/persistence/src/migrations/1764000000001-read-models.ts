import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The read side: tables the projector builds from events, and its own bookkeeping. Every column
 * is derived from events alone (times included), so a rebuild from the store equals them.
 */
export class ReadModels1764000000001 implements MigrationInterface {
  name = 'ReadModels1764000000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE SCHEMA read_model`);
    // Inventory tables keep the aggregate's own state (folded with the domain's evolve) as JSON,
    // and copy out the columns that lists filter and sort on.
    await db.query(`
      CREATE TABLE read_model.hosts (
        host_id uuid PRIMARY KEY,
        name text NOT NULL,
        management text NOT NULL,
        state jsonb NOT NULL,
        registered_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    await db.query(`
      CREATE TABLE read_model.datastores (
        datastore_id uuid PRIMARY KEY,
        name text NOT NULL,
        capacity_bytes bigint NOT NULL,
        claimed_physical_bytes bigint NOT NULL,
        claimed_provisioned_bytes bigint NOT NULL,
        state jsonb NOT NULL,
        registered_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    await db.query(`
      CREATE TABLE read_model.vms (
        vm_id uuid PRIMARY KEY,
        name text NOT NULL,
        role text NOT NULL,
        power_state text NOT NULL,
        lifecycle text NOT NULL,
        host_id uuid NOT NULL,
        datastore_id uuid NOT NULL,
        state jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL
      )`);
    // Listing pages through vm_id (UUIDv7: creation order); filters narrow it.
    await db.query(`CREATE INDEX vms_role ON read_model.vms (role, vm_id)`);
    await db.query(`CREATE INDEX vms_power_state ON read_model.vms (power_state, vm_id)`);
    await db.query(`CREATE INDEX vms_host ON read_model.vms (host_id, vm_id)`);
    await db.query(`CREATE INDEX vms_datastore ON read_model.vms (datastore_id, vm_id)`);
    await db.query(`
      CREATE TABLE read_model.workers (
        worker_id text PRIMARY KEY,
        worker_group text NOT NULL,
        datastore_ids uuid[] NOT NULL,
        state jsonb NOT NULL,
        announced_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    // What a worker last measured of each disk: which layer holds each range (and the chain).
    await db.query(`
      CREATE TABLE read_model.block_maps (
        vm_id uuid NOT NULL,
        disk_id uuid NOT NULL,
        top_layer_id text NOT NULL,
        capacity_bytes bigint NOT NULL,
        allocated_bytes bigint NOT NULL,
        extents jsonb NOT NULL,
        bytes_per_layer jsonb NOT NULL,
        measured_at timestamptz NOT NULL,
        PRIMARY KEY (vm_id, disk_id)
      )`);
    // A task is either a stream of its own (long operations a worker does) or implicit: a command
    // decided in one step, known only from its events' metadata.
    await db.query(`
      CREATE TABLE read_model.tasks (
        task_id uuid PRIMARY KEY,
        operation text NOT NULL,
        target_type text NOT NULL,
        target_id text NOT NULL,
        status text NOT NULL,
        implicit boolean NOT NULL,
        attempt integer NOT NULL,
        worker_id text,
        cancel_requested boolean NOT NULL,
        error_code text,
        error_message text,
        actor_id text NOT NULL,
        actor_role text NOT NULL,
        correlation_id uuid NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        completed_at timestamptz
      )`);
    await db.query(`CREATE INDEX tasks_target ON read_model.tasks (target_id, task_id)`);
    await db.query(`CREATE INDEX tasks_status ON read_model.tasks (status, task_id)`);
    // Progress is not an event (it would flood the store): workers send it on its own topic, and
    // it lives here, outside the read models a rebuild reproduces.
    await db.query(`
      CREATE TABLE read_model.task_progress (
        task_id uuid PRIMARY KEY,
        attempt integer NOT NULL,
        phase text NOT NULL,
        done_bytes bigint NOT NULL,
        total_bytes bigint NOT NULL,
        reported_at timestamptz NOT NULL
      )`);
    await db.query(`
      CREATE TABLE read_model.audit_log (
        event_id uuid PRIMARY KEY,
        global_position bigint NOT NULL,
        stream_id text NOT NULL,
        stream_type text NOT NULL,
        stream_version integer NOT NULL,
        type text NOT NULL,
        schema_version integer NOT NULL,
        actor_id text NOT NULL,
        actor_role text NOT NULL,
        correlation_id uuid NOT NULL,
        causation_id uuid,
        task_id uuid,
        occurred_at timestamptz NOT NULL,
        data jsonb NOT NULL
      )`);
    await db.query(
      `CREATE UNIQUE INDEX audit_log_stream ON read_model.audit_log (stream_id, stream_version)`,
    );
    // Bookkeeping: the Kafka offset each partition is applied up to, and each stream's last applied
    // version (a redelivered or republished event is recognised by it and skipped).
    await db.query(`
      CREATE TABLE read_model.projector_offsets (
        topic text NOT NULL,
        partition integer NOT NULL,
        next_offset bigint NOT NULL,
        PRIMARY KEY (topic, partition)
      )`);
    await db.query(`
      CREATE TABLE read_model.projector_streams (
        stream_id text PRIMARY KEY,
        version integer NOT NULL,
        global_position bigint NOT NULL
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP SCHEMA read_model CASCADE`);
  }
}
