import type { DollyStack, HttpAnswer } from '@dolly/testing';

export const GiB = 1024 ** 3;

export interface Accepted {
  taskId: string | null;
  status: string;
  changed: boolean;
  projected: boolean;
  target: { type: string; id: string; version: number };
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
    await stack.request<Accepted>('POST', '/hosts', { body, headers: { prefer: 'wait=10' } }),
    201,
  ).target.id;
}

export async function registerDatastore(
  stack: DollyStack,
  overrides: Record<string, unknown> = {},
): Promise<string> {
  const body = {
    name: `ds-${Math.random().toString(36).slice(2, 8)}`,
    capacityBytes: 4096 * GiB,
    folder: '/srv/dolly/ds1',
    ...overrides,
  };
  return expectStatus(
    await stack.request<Accepted>('POST', '/datastores', { body, headers: { prefer: 'wait=10' } }),
    201,
  ).target.id;
}

export function vmDefinition(
  hostId: string,
  datastoreId: string,
  name = `vm-${Math.random().toString(36).slice(2, 8)}`,
) {
  return {
    name,
    hostId,
    datastoreId,
    hardware: {
      vcpus: 2,
      memoryBytes: 4 * GiB,
      hardwareVersion: 'vmx-19',
      guestOs: 'ubuntu64Guest',
    },
    disks: [{ capacityBytes: 16 * GiB, format: 'thin' }],
    nics: [{ network: 'VM Network' }],
  };
}

export async function createVm(
  stack: DollyStack,
  hostId: string,
  datastoreId: string,
  wait = true,
): Promise<string> {
  const answer = await stack.request<Accepted>('POST', '/vms', {
    body: vmDefinition(hostId, datastoreId),
    headers: wait ? { prefer: 'wait=10' } : {},
  });
  return expectStatus(answer, wait ? 201 : 202).target.id;
}
