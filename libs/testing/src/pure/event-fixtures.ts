import type { EventMetadata } from '@dolly/contracts';
import { v7 as uuidv7 } from 'uuid';

/** Metadata for events a test appends directly to the store. */
export function testMetadata(overrides: Partial<EventMetadata> = {}): EventMetadata {
  return {
    correlationId: uuidv7(),
    causationId: null,
    actor: { id: 'tester', role: 'admin' },
    taskId: null,
    command: 'Test',
    ...overrides,
  };
}

/**
 * VmCreated data as version 1 said it (before VMs named their pool): for upcast and migration
 * tests of what was recorded earlier.
 */
export function vmCreatedDataV1(vmId: string, role: string, origin: unknown) {
  return {
    vmId,
    name: `vm-${vmId.slice(-2)}`,
    folder: '/dc/vm',
    role,
    hostId: vmId,
    datastoreId: vmId,
    hardware: { vcpus: 1, memoryBytes: 1024 ** 3, hardwareVersion: 'vmx-19', guestOs: 'other' },
    disks: [],
    nics: [],
    biosUuid: vmId,
    origin,
    provisioningTaskId: null,
  };
}
