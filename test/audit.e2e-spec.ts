import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DollyStack } from '@dolly/testing';
import { runCli } from '../apps/cli/src/testing/run-cli';
import { expectStatus, registerDatastore, registerHost } from './support/inventory';

/**
 * An auditor checks the history through the API and the CLI: intact while Dolly alone wrote it,
 * with the projector's signed checkpoints vouched for by the public key the API was given, and
 * broken at the right link once someone with the database owner's rights edits an event.
 */
jest.setTimeout(180_000);

interface Verification {
  intact: boolean;
  firstBreak: { code: string; globalPosition: string | null } | null;
  linksVerified: number;
  checkpoints: { verified: number; unknownKey: number };
}

let stack: DollyStack;
const keys = mkdtempSync(join(tmpdir(), 'dolly-audit-keys-'));
beforeAll(async () => {
  const signing = generateKeyPairSync('ed25519');
  // Another key the auditors trust: the signing key's own public half is trusted as well.
  const publicKeyFile = join(keys, 'other-signer.pem');
  writeFileSync(
    publicKeyFile,
    generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }),
  );
  stack = await DollyStack.start(['api', 'projector'], {
    DOLLY_AUDIT_SIGNING_KEY: signing.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    DOLLY_AUDIT_CHECKPOINT_SECONDS: '1',
    DOLLY_AUDIT_PUBLIC_KEY_FILES: publicKeyFile,
  });
  await registerHost(stack);
  await registerDatastore(stack);
});
afterAll(async () => {
  await stack?.stop();
  rmSync(keys, { recursive: true, force: true });
});

async function signedCheckpoints(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const { rows } = await stack.database.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM event_store.chain_checkpoints`,
    );
    if (rows[0].n > 0) return rows[0].n;
    await sleep(200);
  }
  throw new Error('The projector signed no checkpoint of the event chain');
}

it('is for auditors and admins: an operator may not run it', async () => {
  expect((await stack.request('GET', '/audit/chain', { role: 'operator' })).status).toBe(403);
  expect((await stack.request('GET', '/audit/chain', { role: null })).status).toBe(401);
});

it('finds the history intact, its checkpoints signed by the configured key', async () => {
  await signedCheckpoints();
  const result = expectStatus(
    await stack.request<Verification>('GET', '/audit/chain', { role: 'auditor' }),
    200,
  );
  expect(result).toMatchObject({ intact: true, firstBreak: null, checkpoints: { unknownKey: 0 } });
  expect(result.linksVerified).toBeGreaterThan(0);
  expect(result.checkpoints.verified).toBeGreaterThan(0);
});

it('streams its progress to the CLI, which says intact and exits 0', async () => {
  const run = await runCli({ url: stack.apiUrl, token: stack.tokens.auditor }, ['audit', 'verify']);
  expect({ code: run.code, stdout: run.stdout }).toEqual({
    code: 0,
    stdout: expect.stringMatching(/history\s*│?\s*intact/),
  });
  expect(run.stderr).toMatch(/Verifying: [\d,]+ \/ [\d,]+ links/);
});

it('names the first event an attacker with the owner’s rights edited, and the CLI exits 1', async () => {
  const client = await stack.database.pool.connect();
  let edited: string;
  try {
    // Triggers and rules off, as the owner could: the chain is not told.
    await client.query(`SET session_replication_role = replica`);
    const { rows } = await client.query<{ position: string }>(
      `UPDATE event_store.events SET data = data || '{"name": "forged"}'
        WHERE global_position = (SELECT min(global_position) FROM event_store.events
                                  WHERE type = 'HostRegistered')
        RETURNING global_position::text AS position`,
    );
    edited = rows[0].position;
  } finally {
    client.release(true);
  }

  const run = await runCli({ url: stack.apiUrl, token: stack.tokens.auditor }, [
    '--json',
    'audit',
    'verify',
  ]);
  expect(run.code).toBe(1);
  expect(JSON.parse(run.stdout)).toMatchObject({
    intact: false,
    firstBreak: { code: 'CHAIN.CONTENT_CHANGED', globalPosition: edited },
  });
});
