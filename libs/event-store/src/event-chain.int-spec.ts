import { generateKeyPairSync } from 'node:crypto';
import { type TestDatabase, createTestDatabase, testMetadata } from '@dolly/testing';
import { v7 as uuidv7 } from 'uuid';
import { BatchedAppends } from './batched-appends';
import { type NewEvent, PostgresEventStore } from './event-store';
import {
  type ChainVerification,
  checkpointKey,
  signChainCheckpoint,
  verifyEventChain,
} from './event-chain';

/**
 * The chains as an attacker with the owner's rights meets them: triggers switched off for the
 * session (session_replication_role), rows edited, deleted, reordered and forged in SQL. Each
 * change is found by the verifier and named at its first link; a history rewritten whole, every
 * hash recomputed, only by the signed checkpoints.
 */

const metadata = testMetadata({ command: 'RenameVm' });
const renamed = (vmId: string, name: string): NewEvent => ({
  eventId: uuidv7(),
  type: 'VmRenamed',
  data: { vmId, name, previousName: 'before', note: 'ünïcode ✓ "quoted"\nline' },
  metadata,
  occurredAt: new Date().toISOString(),
});

const ed25519 = () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
};

let db: TestDatabase;
let store: PostgresEventStore;
/** The streams of the history each test starts from, in append order. */
let streams: string[];

beforeEach(async () => {
  db = await createTestDatabase(12);
  store = new PostgresEventStore(db.pool);
  streams = [];
  // Single appends, batches and concurrent writers: one chain, in the order they committed.
  for (let i = 0; i < 4; i++) {
    const vmId = uuidv7();
    streams.push(`vm-${vmId}`);
    await store.appendToStream(`vm-${vmId}`, 'vm', 0, [renamed(vmId, 'a'), renamed(vmId, 'b')]);
  }
  const batched = new BatchedAppends(db.pool, store);
  await Promise.all(
    Array.from({ length: 12 }, async () => {
      const vmId = uuidv7();
      streams.push(`vm-${vmId}`);
      await batched.append(`vm-${vmId}`, 'vm', 0, [renamed(vmId, 'c')]);
      await store.appendToStream(`vm-${vmId}`, 'vm', 1, [renamed(vmId, 'd')]);
    }),
  );
});
afterEach(() => db.drop());

async function asOwner(...statements: string[]): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query(`SET session_replication_role = replica`);
    for (const sql of statements) await client.query(sql);
  } finally {
    await client.query(`RESET session_replication_role`);
    client.release();
  }
}

const eventCount = async () =>
  Number((await db.pool.query(`SELECT count(*) AS n FROM event_store.events`)).rows[0].n);

/** The n-th event of the history (1-based), by global position. */
async function nthEvent(n: number) {
  const { rows } = await db.pool.query<{
    global_position: string;
    stream_id: string;
    stream_version: number;
  }>(
    `SELECT global_position::text AS global_position, stream_id, stream_version
       FROM event_store.events ORDER BY global_position OFFSET $1 LIMIT 1`,
    [n - 1],
  );
  return rows[0];
}

const broken = (result: ChainVerification) => ({
  intact: result.intact,
  code: result.firstBreak?.code,
  at: result.firstBreak && {
    streamId: result.firstBreak.streamId,
    streamVersion: result.firstBreak.streamVersion,
  },
});

describe('an untouched history', () => {
  it('verifies every link, whichever way its events were appended, with progress', async () => {
    const progress: number[] = [];
    const result = await verifyEventChain(db.pool, {
      pageSize: 7,
      onProgress: (done) => progress.push(done),
    });
    expect(result).toMatchObject({ intact: true, firstBreak: null });
    expect(result.linksVerified).toBe(await eventCount());
    expect(result.head.chainSeq).toBe(String(await eventCount()));
    expect(progress.at(-1)).toBe(result.linksVerified);
    expect(progress.length).toBeGreaterThan(3);
  });

  it('chains the losers of a race for one stream version nowhere', async () => {
    const vmId = uuidv7();
    await store.appendToStream(`vm-${vmId}`, 'vm', 0, [renamed(vmId, 'start')]);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.appendToStream(`vm-${vmId}`, 'vm', 1, [renamed(vmId, `w${i}`)]),
      ),
    );
    expect(results.filter((r) => r.success)).toHaveLength(1);
    expect(await verifyEventChain(db.pool)).toMatchObject({ intact: true });
  });

  it('stops when it is cancelled', async () => {
    const abort = new AbortController();
    const verifying = verifyEventChain(db.pool, {
      pageSize: 2,
      signal: abort.signal,
      onProgress: () => abort.abort(new Error('cancelled by the auditor')),
    });
    await expect(verifying).rejects.toThrow('cancelled by the auditor');
  });
});

describe('a history changed in PostgreSQL, triggers off', () => {
  it('finds an edited event, at that event', async () => {
    const target = await nthEvent(9);
    await asOwner(
      `UPDATE event_store.events SET data = data || '{"name":"forged"}' WHERE global_position = ${target.global_position}`,
    );
    expect(broken(await verifyEventChain(db.pool))).toEqual({
      intact: false,
      code: 'CHAIN.CONTENT_CHANGED',
      at: { streamId: target.stream_id, streamVersion: target.stream_version },
    });
  });

  it('finds an edited time, even by a microsecond', async () => {
    const target = await nthEvent(3);
    await asOwner(
      `UPDATE event_store.events SET occurred_at = occurred_at + interval '1 microsecond' WHERE global_position = ${target.global_position}`,
    );
    expect(broken(await verifyEventChain(db.pool)).code).toBe('CHAIN.CONTENT_CHANGED');
  });

  it('finds a deleted event, and a deleted event with its link', async () => {
    const target = await nthEvent(5);
    await asOwner(
      `DELETE FROM event_store.events WHERE global_position = ${target.global_position}`,
    );
    expect(broken(await verifyEventChain(db.pool))).toMatchObject({
      code: 'CHAIN.EVENT_MISSING',
      at: { streamId: target.stream_id, streamVersion: target.stream_version },
    });
    await asOwner(
      `DELETE FROM event_store.event_chain WHERE global_position = ${target.global_position}`,
    );
    expect(broken(await verifyEventChain(db.pool)).code).toBe('CHAIN.LINK_MISSING');
  });

  it('finds two events of a stream swapped, and two events of different streams swapped', async () => {
    const [stream] = streams;
    const swap = [
      `UPDATE event_store.events SET stream_version = 100 WHERE stream_id = '${stream}' AND stream_version = 1`,
      `UPDATE event_store.events SET stream_version = 1 WHERE stream_id = '${stream}' AND stream_version = 2`,
      `UPDATE event_store.events SET stream_version = 2 WHERE stream_id = '${stream}' AND stream_version = 100`,
    ];
    await asOwner(...swap);
    expect(broken(await verifyEventChain(db.pool))).toMatchObject({
      code: 'CHAIN.EVENT_MOVED',
      at: { streamId: stream, streamVersion: 1 },
    });
    await asOwner(...swap);
    expect(await verifyEventChain(db.pool)).toMatchObject({ intact: true });

    // The content of two events exchanged: each row still where its link says.
    const first = await nthEvent(2);
    const second = await nthEvent(12);
    await asOwner(
      `UPDATE event_store.events a SET data = b.data, metadata = b.metadata
         FROM event_store.events b
        WHERE (a.global_position, b.global_position) IN ((${first.global_position}, ${second.global_position}), (${second.global_position}, ${first.global_position}))`,
    );
    // Named at whichever of the two the chain reaches first (its order is the commits').
    const swapped = broken(await verifyEventChain(db.pool));
    expect(swapped.code).toBe('CHAIN.CONTENT_CHANGED');
    expect([first, second].map((e) => [e.stream_id, e.stream_version])).toContainEqual([
      swapped.at?.streamId,
      swapped.at?.streamVersion,
    ]);
  });

  it('finds an event written around the chain', async () => {
    const vmId = uuidv7();
    await asOwner(
      `INSERT INTO event_store.events (event_id, stream_id, stream_type, stream_version, type, schema_version, data, metadata, occurred_at)
       VALUES ('${uuidv7()}', 'vm-${vmId}', 'vm', 1, 'VmRenamed', 1, '{}', '{}', now())`,
    );
    expect(broken(await verifyEventChain(db.pool))).toEqual({
      intact: false,
      code: 'CHAIN.EVENT_UNCHAINED',
      at: { streamId: `vm-${vmId}`, streamVersion: 1 },
    });
  });

  it('finds the last event gone with its link (the head still counts it)', async () => {
    const { rows } = await db.pool.query<{ global_position: string }>(
      `SELECT global_position::text AS global_position FROM event_store.event_chain
        ORDER BY chain_seq DESC LIMIT 1`,
    );
    const last = rows[0].global_position;
    await asOwner(
      `DELETE FROM event_store.events WHERE global_position = ${last}`,
      `DELETE FROM event_store.event_chain WHERE global_position = ${last}`,
    );
    expect(broken(await verifyEventChain(db.pool)).code).toBe('CHAIN.HEAD_CHANGED');
  });
});

describe('signed checkpoints', () => {
  /** What an attacker who can run the chain's own functions does: edit, then relink everything after. */
  async function rewriteFrom(n: number): Promise<void> {
    const target = await nthEvent(n);
    const { rows } = await db.pool.query<{ chain_seq: string }>(
      `SELECT chain_seq::text AS chain_seq FROM event_store.event_chain WHERE global_position = $1`,
      [target.global_position],
    );
    const from = rows[0].chain_seq;
    await asOwner(
      `UPDATE event_store.events SET data = data || '{"name":"rewritten"}' WHERE global_position = ${target.global_position}`,
      `DELETE FROM event_store.event_chain WHERE chain_seq >= ${from}`,
      `UPDATE event_store.chain_head SET chain_seq = c.chain_seq, chain_hash = c.chain_hash
         FROM event_store.event_chain c WHERE c.chain_seq = ${from} - 1`,
      `SELECT event_store.chain_events(ARRAY(
         SELECT ev FROM event_store.events ev
          WHERE NOT EXISTS (SELECT FROM event_store.event_chain c WHERE c.global_position = ev.global_position)
          ORDER BY ev.transaction_id, ev.global_position))`,
    );
  }

  it('sign the head when it moved, and verify with the public key alone', async () => {
    const signing = ed25519();
    expect(await signChainCheckpoint(db.pool, signing)).toBe(String(await eventCount()));
    expect(await signChainCheckpoint(db.pool, signing)).toBeNull();
    const vmId = uuidv7();
    await store.appendToStream(`vm-${vmId}`, 'vm', 0, [renamed(vmId, 'later')]);
    expect(await signChainCheckpoint(db.pool, signing)).toBe(String(await eventCount()));

    const key = checkpointKey(signing);
    const publicOnly = checkpointKey(
      key.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    );
    const result = await verifyEventChain(db.pool, { keys: [publicOnly] });
    expect(result).toMatchObject({
      intact: true,
      checkpoints: {
        verified: 2,
        unknownKey: 0,
        latest: { chainSeq: String(await eventCount()), keyId: key.keyId },
      },
    });
    // Without the key, checkpoints are counted, not judged.
    expect((await verifyEventChain(db.pool)).checkpoints).toMatchObject({
      verified: 0,
      unknownKey: 2,
    });
  });

  it('catch a history rewritten whole, which its links alone cannot show', async () => {
    const signing = ed25519();
    await signChainCheckpoint(db.pool, signing);
    await rewriteFrom(6);
    // Every link recomputed: the chain alone is consistent again.
    expect(await verifyEventChain(db.pool)).toMatchObject({ intact: true });
    expect(broken(await verifyEventChain(db.pool, { keys: [checkpointKey(signing)] }))).toEqual({
      intact: false,
      code: 'CHAIN.CHECKPOINT_MISMATCH',
      at: { streamId: null, streamVersion: null },
    });
  });

  it('catch a checkpoint re-signed by another key under the right key id', async () => {
    const signing = ed25519();
    await signChainCheckpoint(db.pool, signing);
    await rewriteFrom(6);
    const forger = ed25519();
    await asOwner(`DELETE FROM event_store.chain_checkpoints`);
    await signChainCheckpoint(db.pool, forger);
    await asOwner(
      `UPDATE event_store.chain_checkpoints SET key_id = '${checkpointKey(signing).keyId}'`,
    );
    expect(broken(await verifyEventChain(db.pool, { keys: [checkpointKey(signing)] })).code).toBe(
      'CHAIN.CHECKPOINT_UNSIGNED',
    );
  });

  it('refuse a signing key that is not Ed25519', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await expect(
      signChainCheckpoint(db.pool, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
    ).rejects.toThrow('Ed25519, not ec');
    expect(() =>
      checkpointKey(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
    ).toThrow('Ed25519, not ec');
  });
});
