import type { Pool } from 'pg';
import { LIVE_SCHEMA } from '../projection';
import type { ProgressUnit } from '../entities';

/** How far an attempt of a task got, as whoever runs it reports it. */
export interface ProgressReport {
  taskId: string;
  attempt: number;
  phase: string;
  done: number;
  total: number;
  unit: ProgressUnit;
  /** The rate, in the unit per second; null when the reporter does not say. */
  perSecond: number | null;
  reportedAt: string;
}

/**
 * Keeps a task's newest progress (not an event: it lives beside the read models, and a rebuild
 * carries it over). An older report never overwrites a newer one, whichever arrives last.
 */
export async function keepTaskProgress(db: Pick<Pool, 'query'>, report: ProgressReport) {
  await db.query(
    `INSERT INTO ${LIVE_SCHEMA}.task_progress AS t
       (task_id, attempt, phase, done, total, unit, per_second, reported_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (task_id) DO UPDATE SET attempt = excluded.attempt, phase = excluded.phase,
       done = excluded.done, total = excluded.total, unit = excluded.unit,
       per_second = excluded.per_second, reported_at = excluded.reported_at
     WHERE t.reported_at <= excluded.reported_at`,
    [
      report.taskId,
      report.attempt,
      report.phase,
      report.done,
      report.total,
      report.unit,
      report.perSecond,
      report.reportedAt,
    ],
  );
}
