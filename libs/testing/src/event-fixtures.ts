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
