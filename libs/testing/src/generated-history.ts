import type { Pool } from 'pg';
import { recordedHistory } from './recorded-history';

/**
 * Dolly's own events, numbered $1 to $2: event g is version g / $3 + 1 of VM g % $3 + $6, its
 * first a VmCreated (the recorded history's first, $4, under the VM's own id), then renames.
 */
const GENERATE = `
  INSERT INTO event_store.events
    (event_id, stream_id, stream_type, stream_version, type, schema_version, data, metadata, occurred_at)
  SELECT gen_random_uuid(), s.stream_id, 'vm', g / $3 + 1,
         CASE WHEN g < $3 THEN 'VmCreated' ELSE 'VmRenamed' END, CASE WHEN g < $3 THEN $5::int ELSE 1 END,
         CASE WHEN g < $3
              THEN $4::jsonb || jsonb_build_object('vmId', v.vm_id, 'name', 'web-' || g)
              ELSE jsonb_build_object('vmId', v.vm_id, 'name', 'web-' || g, 'previousName', 'web-' || (g - $3)) END,
         jsonb_build_object('actor', jsonb_build_object('id', 'generated-operator', 'role', 'operator'),
                            'correlationId', gen_random_uuid(), 'causationId', NULL, 'taskId', NULL,
                            'command', 'RenameVm'),
         now()
    FROM generate_series($1::bigint, $2::bigint) AS g,
         LATERAL (SELECT format('00000000-0000-7000-8000-%s', lpad((g % $3 + $6)::text, 12, '0')) AS vm_id) v,
         LATERAL (SELECT 'vm-' || v.vm_id AS stream_id) s
   ORDER BY g`;

const BATCH = 10_000;

/**
 * A long history made in the store itself, through its triggers (the chain included): `events`
 * events over `streams` VMs (numbered from `firstStream`: `vmIdOf`), each created then renamed
 * again and again. What benches and long rebuilds replay; written straight to the store, so no
 * projector hears of it.
 */
export async function appendGeneratedHistory(
  pool: Pool,
  { events, streams, firstStream = 0 }: { events: number; streams: number; firstStream?: number },
  onBatch?: (appended: number) => void,
): Promise<void> {
  const created = recordedHistory().events.find((event) => event.type === 'VmCreated')!;
  for (let first = 0; first < events; first += BATCH) {
    await pool.query(GENERATE, [
      first,
      Math.min(first + BATCH, events) - 1,
      streams,
      JSON.stringify(created.data),
      created.schemaVersion,
      firstStream,
    ]);
    onBatch?.(Math.min(first + BATCH, events));
  }
}

/** The id of the generated VM numbered `n`. */
export const generatedVmId = (n: number) =>
  `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`;
