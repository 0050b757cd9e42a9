import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresEventStore } from '@dolly/event-store';
import { DollyStack, testMetadata } from '@dolly/testing';
import { v7 as uuidv7 } from 'uuid';
import {
  type Accepted,
  GiB,
  createVm,
  expectStatus,
  registerDatastore,
  registerHost,
  wait,
  workerServes,
} from './support/inventory';

/**
 * A datastore's folder is where a worker writes its metadata and moves unknown files aside: every
 * way of pointing one at somebody else's files is refused, by the API with every reason at once
 * and again by the worker, and afterwards nothing moved, nothing was recorded.
 */

type Problem = { status: number; code: string; errors?: { code: string; detail: string }[] };

let stack: DollyStack;
let root: string;
let outside: string;
let hostId: string;

/** Somebody's folder: files a datastore must never touch. */
function someonesFolder(parent: string, name: string): string {
  const folder = join(parent, name);
  mkdirSync(join(folder, 'photos'), { recursive: true });
  writeFileSync(join(folder, 'passwords.txt'), 'hunter2');
  writeFileSync(join(folder, 'photos', 'cat.jpg'), 'meow');
  return folder;
}
const untouched = (folder: string) =>
  expect(readdirSync(folder).sort()).toEqual(['passwords.txt', 'photos']);

const register = (folder: string, extra: Record<string, unknown> = {}) =>
  stack.request<Problem & Accepted>('POST', '/datastores', {
    body: {
      name: `ds-${Math.random().toString(36).slice(2, 8)}`,
      capacityBytes: 64 * GiB,
      folder,
      ...extra,
    },
    headers: wait(10),
  });

const reasonCodes = (problem: Problem) => (problem.errors ?? []).map((e) => e.code).sort();

const datastoreEvents = async () =>
  (
    await stack.database.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM event_store.events WHERE stream_type = 'datastore'`,
    )
  ).rows[0].n;

async function workerHealth() {
  const answer = await fetch(`${stack.urlOf('worker')}/health`, {
    headers: { authorization: `Bearer ${stack.tokens.admin}` },
  });
  return (await answer.json()) as {
    checks: Record<
      string,
      {
        details?: {
          datastores?: number;
          refused?: { datastoreId: string; reasons: { code: string }[] }[];
        };
      }
    >;
  };
}

beforeAll(async () => {
  stack = await DollyStack.start();
  root = stack.datastoreRoot;
  outside = mkdtempSync(join(tmpdir(), 'dolly-outside-'));
  hostId = await registerHost(stack);
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  if (outside) rmSync(outside, { recursive: true, force: true });
});

describe('registering a datastore', () => {
  it('refuses every folder outside what the operator allows, with every reason, recording nothing', async () => {
    const share = someonesFolder(outside, 'share');
    const inRootShare = someonesFolder(root, 'team-share');
    symlinkSync(share, join(root, 'escape'));
    const before = await datastoreEvents();

    // Outside the roots nothing is looked at: the answer reveals nothing of what a folder holds.
    const cases: [string, string[]][] = [
      ['/', ['DATASTORE.FOLDER_OUTSIDE_ROOTS']],
      ['/etc', ['DATASTORE.FOLDER_OUTSIDE_ROOTS']],
      ['/root', ['DATASTORE.FOLDER_OUTSIDE_ROOTS']],
      [share, ['DATASTORE.FOLDER_OUTSIDE_ROOTS']],
      [root, ['DATASTORE.FOLDER_IS_ROOT', 'DATASTORE.FOLDER_NOT_EMPTY']],
      [inRootShare, ['DATASTORE.FOLDER_NOT_EMPTY']],
      [join(root, 'escape'), ['DATASTORE.FOLDER_OUTSIDE_ROOTS']],
      [
        `${root}/../${share.split('/').slice(-2).join('/')}`,
        ['DATASTORE.FOLDER_NOT_NORMAL', 'DATASTORE.FOLDER_OUTSIDE_ROOTS'],
      ],
      [`${root}/./new`, ['DATASTORE.FOLDER_NOT_NORMAL']],
    ];
    for (const [folder, reasons] of cases) {
      const answer = await register(folder);
      expect([folder, answer.status, answer.body.code]).toEqual([
        folder,
        422,
        'DATASTORE.FOLDER_REFUSED',
      ]);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect([folder, reasonCodes(answer.body)]).toEqual([folder, reasons]);
      if (reasons.includes('DATASTORE.FOLDER_OUTSIDE_ROOTS'))
        expect(JSON.stringify(answer.body)).not.toMatch(/passwords|photos|adduser/);
    }

    expect(await datastoreEvents()).toBe(before);
    untouched(share);
    untouched(inRootShare);
    expect(existsSync(join(root, '.dolly'))).toBe(false);
  });

  it('refuses a folder inside, around, or in the metadata of another datastore', async () => {
    const team = join(root, 'team');
    mkdirSync(team);
    const first = join(team, 'ds-a');
    const datastoreId = await registerDatastore(stack, { folder: first });
    await workerServes(stack, datastoreId);
    const before = await datastoreEvents();

    for (const folder of [first, join(first, 'inner'), join(first, '.dolly'), team]) {
      const answer = await register(folder);
      expect([folder, answer.status]).toEqual([folder, 422]);
      expect(reasonCodes(answer.body)).toContain('DATASTORE.FOLDER_OVERLAPS');
      expect(
        answer.body.errors!.find((e) => e.code === 'DATASTORE.FOLDER_OVERLAPS')!.detail,
      ).toContain(datastoreId);
    }
    expect(await datastoreEvents()).toBe(before);
    expect(readdirSync(join(first, '.dolly'))).toContain('datastore.json');
  });

  it('lets only one of two concurrent registrations of nested folders through', async () => {
    const outer = join(root, 'race');
    const answers = await Promise.all([register(outer), register(join(outer, 'inner'))]);

    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 422]);
    expect(answers.find((answer) => answer.status === 422)!.body.code).toBe(
      'DATASTORE.FOLDER_REFUSED',
    );
  });
});

describe('a worker given a datastore it should never have been given', () => {
  it('leaves the folder untouched and says why', async () => {
    const share = someonesFolder(outside, 'forged-share');
    const inRoot = someonesFolder(root, 'forged-in-root');
    const store = new PostgresEventStore(stack.database.pool);
    // What a compromised writer of the event store could record, past every check of the API.
    const forged = [share, inRoot].map((folder) => ({ datastoreId: uuidv7(), folder }));
    for (const { datastoreId, folder } of forged)
      await store.appendToStream(`datastore-${datastoreId}`, 'datastore', 0, [
        {
          eventId: uuidv7(),
          type: 'DatastoreRegistered',
          data: {
            datastoreId,
            name: `forged-${datastoreId.slice(-4)}`,
            capacityBytes: GiB,
            folder,
            overcommitRatio: 1,
            adopted: false,
          },
          metadata: testMetadata({
            actor: { id: 'intruder', role: 'admin' },
            command: 'RegisterDatastore',
          }),
          occurredAt: new Date().toISOString(),
        },
      ]);

    const refused = await stack.eventually(async () => {
      const list = (await workerHealth()).checks['disk-engine']?.details?.refused ?? [];
      return (
        forged.every(({ datastoreId }) => list.some((r) => r.datastoreId === datastoreId)) && list
      );
    }, 30_000);

    const codes = (id: string) =>
      refused
        .find((r) => r.datastoreId === id)!
        .reasons.map((r) => r.code)
        .sort();
    expect(codes(forged[0].datastoreId)).toEqual(['DATASTORE.FOLDER_OUTSIDE_ROOTS']);
    expect(codes(forged[1].datastoreId)).toEqual(['DATASTORE.FOLDER_NOT_EMPTY']);
    // Several scans later, still nothing touched.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    untouched(share);
    untouched(inRoot);
  });
});

describe('removing, renaming and adopting', () => {
  it('removes only an empty datastore, keeps its folder, and adopts it back under its id', async () => {
    const folder = join(root, 'ds-cycle');
    const datastoreId = await registerDatastore(stack, { folder });
    await workerServes(stack, datastoreId);
    const vmId = await createVm(stack, hostId, datastoreId, [
      { capacityBytes: GiB, format: 'thin' },
    ]);

    const inUse = await stack.request<Problem>('DELETE', `/datastores/${datastoreId}`);
    expect(inUse.status).toBe(409);
    expect(inUse.body.code).toBe('DATASTORE.IN_USE');
    expect(reasonCodes(inUse.body)).toEqual([
      'DATASTORE.DISK_STANDS_ON_IT',
      'DATASTORE.VM_STANDS_ON_IT',
    ]);

    expectStatus(await stack.request<Accepted>('DELETE', `/vms/${vmId}`, { headers: wait() }), 200);
    const renamed = expectStatus(
      await stack.request<Accepted>('POST', `/datastores/${datastoreId}/rename`, {
        body: { name: 'gold' },
        headers: wait(10),
      }),
      200,
    );
    expect(renamed.resource).toMatchObject({ name: 'gold', adopted: false });

    expectStatus(
      await stack.request('DELETE', `/datastores/${datastoreId}`, { headers: wait(10) }),
      200,
    );
    expect((await stack.request('GET', `/datastores/${datastoreId}`)).status).toBe(404);
    // The folder stays, with its metadata; no worker serves it any more.
    expect(readdirSync(join(folder, '.dolly'))).toContain('datastore.json');
    await stack.eventually(async () => {
      const { rows } = await stack.database.pool.query(
        'SELECT 1 FROM read_model.workers WHERE $1 = ANY(datastore_ids)',
        [datastoreId],
      );
      return rows.length === 0;
    }, 30_000);

    const notAdopting = await register(folder);
    expect(reasonCodes(notAdopting.body)).toEqual(['DATASTORE.FOLDER_HOLDS_DATASTORE']);
    const nothingThere = await register(join(root, 'ds-nothing'), { adopt: true });
    expect(reasonCodes(nothingThere.body)).toEqual(['DATASTORE.NOTHING_TO_ADOPT']);

    const adopted = expectStatus(await register(folder, { adopt: true }), 201);
    expect(adopted.target.id).toBe(datastoreId);
    expect(adopted.resource).toMatchObject({ datastoreId, adopted: true, folder });
    await workerServes(stack, datastoreId);
  });
});
