import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { workerGroupId } from '@dolly/contracts';
import { type DollyStack, type HttpAnswer, testKafka } from '@dolly/testing';

export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;

export interface Accepted {
  taskId: string | null;
  status: string;
  changed: boolean;
  projected: boolean;
  target: { type: string; id: string; version: number };
  task?: {
    status: string;
    error: { code: string; message: string } | null;
    progress: { percent: number };
  };
  resource?: Record<string, unknown>;
}

export function expectStatus<T>(answer: HttpAnswer<T>, status: number): T {
  if (answer.status !== status) {
    throw new Error(
      `Expected HTTP ${status}, got ${answer.status}: ${JSON.stringify(answer.body)}`,
    );
  }
  return answer.body;
}

export const wait = (seconds = 30) => ({ prefer: `wait=${seconds}` });

export async function registerHost(
  stack: DollyStack,
  overrides: Record<string, unknown> = {},
): Promise<string> {
  const body = {
    name: `esx-${Math.random().toString(36).slice(2, 8)}`,
    cpuCores: 32,
    memoryBytes: 256 * GiB,
    maxHardwareVersion: 'vmx-19',
    management: 'managed',
    ...overrides,
  };
  return expectStatus(
    await stack.request<Accepted>('POST', '/hosts', { body, headers: wait(10) }),
    201,
  ).target.id;
}

/** A datastore whose folder is a fresh directory of the test's own, so a worker of the stack serves it. */
export async function registerDatastore(
  stack: DollyStack,
  overrides: Record<string, unknown> = {},
): Promise<string> {
  const body = {
    name: `ds-${Math.random().toString(36).slice(2, 8)}`,
    capacityBytes: 64 * GiB,
    folder: stack.datastoreFolder(),
    ...overrides,
  };
  return expectStatus(
    await stack.request<Accepted>('POST', '/datastores', { body, headers: wait(10) }),
    201,
  ).target.id;
}

/** The folder a registered datastore keeps its layer files in. */
export async function datastoreFolderOf(stack: DollyStack, datastoreId: string): Promise<string> {
  const { rows } = await stack.database.pool.query<{ folder: string }>(
    `SELECT state->>'folder' AS folder FROM read_model.datastores WHERE datastore_id = $1`,
    [datastoreId],
  );
  return rows[0].folder;
}

export type DiskSpec = {
  capacityBytes: number;
  format: 'thin' | 'thick-lazy-zeroed' | 'thick-eager-zeroed';
};

/** A VM definition; without disks it is inventory only (no worker needed to make it). */
export function vmDefinition(
  hostId: string,
  datastoreId: string,
  name = `vm-${Math.random().toString(36).slice(2, 8)}`,
  disks: DiskSpec[] = [],
) {
  return {
    name,
    hostId,
    datastoreId,
    hardware: {
      vcpus: 2,
      memoryBytes: 64 * MiB,
      hardwareVersion: 'vmx-19',
      guestOs: 'ubuntu64Guest',
    },
    disks,
    nics: [{ network: 'VM Network' }],
  };
}

export async function createVm(
  stack: DollyStack,
  hostId: string,
  datastoreId: string,
  disks: DiskSpec[] = [],
): Promise<string> {
  const answer = await stack.request<Accepted>('POST', '/vms', {
    body: vmDefinition(hostId, datastoreId, undefined, disks),
    headers: wait(),
  });
  const body = expectStatus(answer, 201);
  return body.target.id;
}

/**
 * Waits until the stack's worker has announced itself and serves the datastore (placement needs
 * it). `kafkaEnv`: the broker's client settings when the stack runs on one of its own.
 */
export async function workerServes(
  stack: DollyStack,
  datastoreId: string,
  kafkaEnv: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const kafka = testKafka(kafkaEnv);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await stack.eventually(async () => {
      const { rows } = await stack.database.pool.query<{ worker_group: string }>(
        'SELECT worker_group FROM read_model.workers WHERE $1 = ANY(datastore_ids)',
        [datastoreId],
      );
      if (rows.length === 0) return false;
      const { groups } = await admin.describeGroups(
        rows.map((row) => workerGroupId(stack.kafkaPrefix, row.worker_group)),
      );
      return groups.some((group) => group.members.length > 0);
    }, 60_000);
  } finally {
    await admin.disconnect();
  }
}

/** How many events of a type a datastore's stream holds. */
export async function datastoreEventCount(
  stack: DollyStack,
  datastoreId: string,
  type: string,
): Promise<number> {
  const { rows } = await stack.database.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM event_store.events WHERE stream_id = $1 AND type = $2`,
    [`datastore-${datastoreId}`, type],
  );
  return rows[0].n;
}

/** The built CLI against the stack's API, as an admin: its standard output. */
export async function adminCli(stack: DollyStack, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(__dirname, '..', '..', 'dist', 'apps', 'cli', 'src', 'main.js'), ...args],
    { env: { ...process.env, DOLLY_API_URL: stack.apiUrl, DOLLY_TOKEN: stack.tokens.admin } },
  );
  return stdout;
}
