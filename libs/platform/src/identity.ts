import { randomBytes } from 'node:crypto';
import type { IdSource } from '@dolly/domain';
import { v7 as uuidv7 } from 'uuid';

/**
 * A MAC address of Dolly's own: locally administered (bit 1 of the first octet set), unicast
 * (bit 0 clear), so it never collides with a vendor's burnt-in range.
 */
export function generateMacAddress(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0] & 0b11111100) | 0b00000010;
  return [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(':');
}

/** New ids for decisions that make objects: UUIDv7 (creation order), Dolly's own MACs. */
export const randomIds: IdSource = { id: uuidv7, macAddress: generateMacAddress };
