/**
 * The two hash chains every event is a link of (the event-chain migration says how they are made)
 * and the verifier that walks them. The verifier recomputes every digest here, from each row's
 * fields as PostgreSQL renders them: it trusts no function of the database, so a history edited
 * by someone with the owner's rights (triggers disabled) is found, and named at its first link.
 * A history rewritten whole, every hash recomputed, still verifies link by link: the signed
 * checkpoints (made with a key the database never holds) are what catch it.
 */
import {
  type KeyObject,
  createHash,
  createPrivateKey,
  createPublicKey,
  hash,
  sign,
  verify,
} from 'node:crypto';
import type { Pool } from 'pg';

const ZERO_HASH = Buffer.alloc(32);

/** The fields of an event as the content digest frames them, in its order. */
const CONTENT_FIELDS = `e.event_id::text AS event_id, e.stream_id, e.stream_type,
  e.stream_version::text AS stream_version_text, e.type, e.schema_version::text AS schema_version,
  e.data::text AS data, e.metadata::text AS metadata,
  (extract(epoch FROM e.occurred_at) * 1000000)::bigint::text AS occurred_us,
  (extract(epoch FROM e.recorded_at) * 1000000)::bigint::text AS recorded_us`;

interface LinkRow {
  chain_seq: string;
  global_position: string;
  chain_stream_id: string;
  chain_stream_version: number;
  stream_hash: Buffer;
  chain_hash: Buffer;
  present: boolean;
  event_id: string;
  stream_id: string;
  stream_type: string;
  stream_version: number;
  stream_version_text: string;
  type: string;
  schema_version: string;
  data: string;
  metadata: string;
  occurred_us: string;
  recorded_us: string;
}

// Each digest's input is framed in a buffer reused for every event, and hashed in one shot: a
// verification hashes three times an event, and a hash object each time is most of its cost.
let frame = Buffer.allocUnsafe(64 * 1024);
const link = Buffer.allocUnsafe(80);

/** SHA-256 over each field's UTF-8 bytes, each preceded by its length (4 bytes, big-endian). */
export function contentDigest(fields: readonly string[]): Buffer {
  let most = 0;
  for (const field of fields) most += 4 + field.length * 3;
  if (most > frame.length) frame = Buffer.allocUnsafe(Math.max(most, frame.length * 2));
  let end = 0;
  for (const field of fields) {
    const bytes = frame.write(field, end + 4, 'utf8');
    frame.writeUInt32BE(bytes, end);
    end += 4 + bytes;
  }
  return hash('sha256', frame.subarray(0, end), 'buffer');
}

/** A stream's link: SHA-256(the stream's previous hash || the event's content digest). */
function streamLink(previous: Buffer, digest: Buffer): Buffer {
  previous.copy(link, 0);
  digest.copy(link, 32);
  return hash('sha256', link.subarray(0, 64), 'buffer');
}

/** The global chain's link: SHA-256(previous || chain_seq || global_position || stream hash). */
function chainLink(previous: Buffer, chainSeq: string, globalPosition: string, streamHash: Buffer) {
  previous.copy(link, 0);
  link.writeBigInt64BE(BigInt(chainSeq), 32);
  link.writeBigInt64BE(BigInt(globalPosition), 40);
  streamHash.copy(link, 48);
  return hash('sha256', link, 'buffer');
}

/** Where and how the history stops being what its chain says. */
export interface ChainBreak {
  code:
    | 'CHAIN.LINK_MISSING'
    | 'CHAIN.EVENT_MISSING'
    | 'CHAIN.EVENT_MOVED'
    | 'CHAIN.STREAM_GAP'
    | 'CHAIN.CONTENT_CHANGED'
    | 'CHAIN.LINK_CHANGED'
    | 'CHAIN.HEAD_CHANGED'
    | 'CHAIN.EVENT_UNCHAINED'
    | 'CHAIN.CHECKPOINT_UNSIGNED'
    | 'CHAIN.CHECKPOINT_MISMATCH';
  detail: string;
  /** The link (1, 2, ...) in the global chain; null for an event the chain does not hold. */
  chainSeq: string | null;
  globalPosition: string | null;
  streamId: string | null;
  streamVersion: number | null;
}

export interface CheckpointKey {
  keyId: string;
  publicKey: KeyObject;
}

export interface ChainVerification {
  intact: boolean;
  /** The first broken link, in chain order; checkpoints are judged after the links they sign. */
  firstBreak: ChainBreak | null;
  linksVerified: number;
  head: { chainSeq: string; chainHash: string };
  checkpoints: {
    /** Checkpoints whose signature verified with a given key and whose hash is the chain's. */
    verified: number;
    /** Checkpoints signed by a key the verifier was not given (not judged). */
    unknownKey: number;
    /** The newest verified checkpoint: history up to it is as signed. */
    latest: { chainSeq: string; signedAt: string; keyId: string } | null;
  };
}

export interface VerifyChainOptions {
  /** Public keys checkpoints may be signed with; none: checkpoints are counted, not judged. */
  keys?: readonly CheckpointKey[];
  pageSize?: number;
  signal?: AbortSignal;
  onProgress?: (linksVerified: number, linksTotal: number) => void;
}

interface CheckpointRow {
  chain_seq: string;
  chain_hash: Buffer;
  signed_at: Date;
  key_id: string;
  signature: Buffer;
}

/**
 * Walks the global chain up to the head it finds at the start, in pages, oldest first: each link's event present and in its
 * place, its content the one its stream hash covers, each hash the one its predecessor leads to,
 * the head where the last link is; then looks for events no link holds; then judges each signed
 * checkpoint against the hash recomputed at its link. Memory: one entry per stream (its last hash).
 */
export async function verifyEventChain(
  pool: Pool,
  options: VerifyChainOptions = {},
): Promise<ChainVerification> {
  const pageSize = options.pageSize ?? 5000;
  const { rows: heads } = await pool.query<{ chain_seq: string; chain_hash: Buffer }>(
    `SELECT chain_seq::text AS chain_seq, chain_hash FROM event_store.chain_head`,
  );
  const head = heads[0];
  const { rows: checkpointRows } = await pool.query<CheckpointRow>(
    `SELECT chain_seq::text AS chain_seq, chain_hash, signed_at, key_id, signature
       FROM event_store.chain_checkpoints ORDER BY chain_seq`,
  );
  const signedLinks = new Set(checkpointRows.map((row) => row.chain_seq));

  const streams = new Map<string, { version: number; hash: Buffer }>();
  const recomputedAt = new Map<string, Buffer>();
  let previousHash = ZERO_HASH;
  let previousSeq = 0n;
  let verified = 0;
  let firstBreak: ChainBreak | null = null;
  const total = Number(head.chain_seq);

  // One session of its own: a page is 5,000 index lookups, which PostgreSQL would otherwise hand
  // to parallel workers that take longer to start than the lookups take.
  const session = await pool.connect();
  await session.query('SET max_parallel_workers_per_gather = 0');
  const page = (after: string) =>
    session.query<LinkRow>(
      `SELECT c.chain_seq::text AS chain_seq, c.global_position::text AS global_position,
              c.stream_id AS chain_stream_id, c.stream_version AS chain_stream_version,
              c.stream_hash, c.chain_hash, e.global_position IS NOT NULL AS present,
              e.stream_version, ${CONTENT_FIELDS}
         FROM event_store.event_chain c
         LEFT JOIN event_store.events e ON e.global_position = c.global_position
        WHERE c.chain_seq > $1 AND c.chain_seq <= $3 ORDER BY c.chain_seq LIMIT $2`,
      [after, pageSize, head.chain_seq],
    );
  // The next page is read while this one is hashed.
  let next = page('0');
  try {
    walk: for (;;) {
      options.signal?.throwIfAborted();
      const { rows } = await next;
      if (rows.length === 0) break;
      next = page(rows[rows.length - 1].chain_seq);
      for (const row of rows) {
        const at = {
          chainSeq: row.chain_seq,
          globalPosition: row.global_position,
          streamId: row.chain_stream_id,
          streamVersion: row.chain_stream_version,
        };
        const seq = BigInt(row.chain_seq);
        if (seq !== previousSeq + 1n) {
          firstBreak = {
            code: 'CHAIN.LINK_MISSING',
            detail: `links ${previousSeq + 1n} to ${seq - 1n} of the chain are missing`,
            ...at,
            chainSeq: (previousSeq + 1n).toString(),
          };
          break walk;
        }
        if (!row.present) {
          firstBreak = {
            code: 'CHAIN.EVENT_MISSING',
            detail: `the event at global position ${row.global_position} (${row.chain_stream_id} version ${row.chain_stream_version}) is gone`,
            ...at,
          };
          break walk;
        }
        if (
          row.stream_id !== row.chain_stream_id ||
          row.stream_version !== row.chain_stream_version
        ) {
          firstBreak = {
            code: 'CHAIN.EVENT_MOVED',
            detail: `global position ${row.global_position} holds ${row.stream_id} version ${row.stream_version}, but the chain put ${row.chain_stream_id} version ${row.chain_stream_version} there`,
            ...at,
          };
          break walk;
        }
        const before = streams.get(row.stream_id);
        if ((before?.version ?? 0) !== row.stream_version - 1) {
          firstBreak = {
            code: 'CHAIN.STREAM_GAP',
            detail: `${row.stream_id} version ${row.stream_version} follows version ${before?.version ?? 0} in the chain`,
            ...at,
          };
          break walk;
        }
        const digest = contentDigest([
          row.event_id,
          row.stream_id,
          row.stream_type,
          row.stream_version_text,
          row.type,
          row.schema_version,
          row.data,
          row.metadata,
          row.occurred_us,
          row.recorded_us,
        ]);
        const streamHash = streamLink(before?.hash ?? ZERO_HASH, digest);
        if (!streamHash.equals(row.stream_hash)) {
          firstBreak = {
            code: 'CHAIN.CONTENT_CHANGED',
            detail: `${row.stream_id} version ${row.stream_version} (global position ${row.global_position}) is not the event its stream chain recorded`,
            ...at,
          };
          break walk;
        }
        const chainHash = chainLink(previousHash, row.chain_seq, row.global_position, streamHash);
        if (!chainHash.equals(row.chain_hash)) {
          firstBreak = {
            code: 'CHAIN.LINK_CHANGED',
            detail: `link ${row.chain_seq} does not follow from link ${previousSeq}: the global chain was altered there`,
            ...at,
          };
          break walk;
        }
        streams.set(row.stream_id, { version: row.stream_version, hash: streamHash });
        if (signedLinks.has(row.chain_seq)) recomputedAt.set(row.chain_seq, chainHash);
        previousHash = chainHash;
        previousSeq = seq;
        verified++;
      }
      options.onProgress?.(verified, total);
    }
  } finally {
    // A walk that stopped early leaves a page in flight: its answer (or error) is not wanted.
    await next.catch(() => undefined);
    await session.query('RESET max_parallel_workers_per_gather').then(
      () => session.release(),
      (error: Error) => session.release(error),
    );
  }

  if (
    !firstBreak &&
    (previousSeq.toString() !== head.chain_seq || !previousHash.equals(head.chain_hash))
  )
    firstBreak = {
      code: 'CHAIN.HEAD_CHANGED',
      detail: `the chain ends at link ${previousSeq}, but its head says link ${head.chain_seq}${previousSeq.toString() === head.chain_seq ? ' with another hash' : ''}`,
      chainSeq: head.chain_seq,
      globalPosition: null,
      streamId: null,
      streamVersion: null,
    };
  if (!firstBreak) firstBreak = await unchainedEvent(pool);

  const checkpoints = judgeCheckpoints(checkpointRows, recomputedAt, options.keys ?? []);
  firstBreak ??= checkpoints.firstBreak;
  return {
    intact: firstBreak === null,
    firstBreak,
    linksVerified: verified,
    head: { chainSeq: head.chain_seq, chainHash: head.chain_hash.toString('hex') },
    checkpoints: checkpoints.summary,
  };
}

/** An event no link holds: written around the triggers. */
async function unchainedEvent(pool: Pool): Promise<ChainBreak | null> {
  const { rows } = await pool.query<{
    global_position: string;
    stream_id: string;
    stream_version: number;
  }>(
    `SELECT e.global_position::text AS global_position, e.stream_id, e.stream_version
       FROM event_store.events e
      WHERE NOT EXISTS (SELECT FROM event_store.event_chain c WHERE c.global_position = e.global_position)
      ORDER BY e.global_position LIMIT 1`,
  );
  const row = rows[0];
  if (!row) return null;
  return {
    code: 'CHAIN.EVENT_UNCHAINED',
    detail: `${row.stream_id} version ${row.stream_version} (global position ${row.global_position}) is in no link of the chain: it was written around it`,
    chainSeq: null,
    globalPosition: row.global_position,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
  };
}

function judgeCheckpoints(
  rows: readonly CheckpointRow[],
  recomputedAt: ReadonlyMap<string, Buffer>,
  keys: readonly CheckpointKey[],
): { firstBreak: ChainBreak | null; summary: ChainVerification['checkpoints'] } {
  const summary: ChainVerification['checkpoints'] = { verified: 0, unknownKey: 0, latest: null };
  let firstBreak: ChainBreak | null = null;
  for (const row of rows) {
    const key = keys.find((candidate) => candidate.keyId === row.key_id);
    if (!key) {
      summary.unknownKey++;
      continue;
    }
    const at = {
      chainSeq: row.chain_seq,
      globalPosition: null,
      streamId: null,
      streamVersion: null,
    };
    const signedAt = row.signed_at.toISOString();
    const message = checkpointMessage(row.chain_seq, row.chain_hash, signedAt);
    if (!verify(null, message, key.publicKey, row.signature)) {
      firstBreak ??= {
        code: 'CHAIN.CHECKPOINT_UNSIGNED',
        detail: `the checkpoint at link ${row.chain_seq} (${signedAt}) does not carry a valid signature of key ${row.key_id}`,
        ...at,
      };
      continue;
    }
    const recomputed = recomputedAt.get(row.chain_seq);
    if (!recomputed?.equals(row.chain_hash)) {
      firstBreak ??= {
        code: 'CHAIN.CHECKPOINT_MISMATCH',
        detail: `key ${row.key_id} signed link ${row.chain_seq} as ${row.chain_hash.toString('hex')} at ${signedAt}; the history now leads to ${recomputed ? recomputed.toString('hex') : 'no such link'}: it was rewritten`,
        ...at,
      };
      continue;
    }
    summary.verified++;
    summary.latest = { chainSeq: row.chain_seq, signedAt, keyId: row.key_id };
  }
  return { firstBreak, summary };
}

/** What a checkpoint's signature covers: the link, its hash and when it was signed. */
function checkpointMessage(chainSeq: string, chainHash: Buffer, signedAtIso: string): Buffer {
  return Buffer.from(
    `dolly event chain checkpoint v1\n${chainSeq}\n${chainHash.toString('hex')}\n${signedAtIso}\n`,
    'utf8',
  );
}

/** A key's id: the first 16 hex digits of the SHA-256 of its public key (SPKI, DER). */
export function checkpointKeyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** An Ed25519 public key from PEM (SPKI), or the public half of a private key's PEM. */
export function checkpointKey(pem: string): CheckpointKey {
  const publicKey = pem.includes('PRIVATE KEY')
    ? createPublicKey(createPrivateKey(pem))
    : createPublicKey(pem);
  if (publicKey.asymmetricKeyType !== 'ed25519')
    throw new Error(`A checkpoint key is Ed25519, not ${publicKey.asymmetricKeyType}`);
  return { keyId: checkpointKeyId(publicKey), publicKey };
}

/**
 * Signs the chain's head, when it moved past the last checkpoint: one row the verifier can judge
 * without trusting the database. Returns the link signed, or null when there was nothing new.
 */
export async function signChainCheckpoint(
  pool: Pool,
  privateKeyPem: string,
  now: Date = new Date(),
): Promise<string | null> {
  const privateKey = createPrivateKey(privateKeyPem);
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new Error(`The checkpoint signing key is Ed25519, not ${privateKey.asymmetricKeyType}`);
  const keyId = checkpointKeyId(createPublicKey(privateKey));
  const { rows } = await pool.query<{ chain_seq: string; chain_hash: Buffer }>(
    `SELECT h.chain_seq::text AS chain_seq, h.chain_hash FROM event_store.chain_head h
      WHERE h.chain_seq > coalesce((SELECT max(chain_seq) FROM event_store.chain_checkpoints), 0)`,
  );
  const head = rows[0];
  if (!head) return null;
  const signature = sign(
    null,
    checkpointMessage(head.chain_seq, head.chain_hash, now.toISOString()),
    privateKey,
  );
  await pool.query(
    `INSERT INTO event_store.chain_checkpoints (chain_seq, chain_hash, signed_at, key_id, signature)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chain_seq) DO NOTHING`,
    [head.chain_seq, head.chain_hash, now, keyId, signature],
  );
  return head.chain_seq;
}
