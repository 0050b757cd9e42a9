import { v7 as uuidv7 } from 'uuid';
import { generateMacAddress } from '@dolly/platform';

/** Every clone gets its own identity: VM id, disk ids, MAC addresses, BIOS UUID. */
export function newIdentity(diskCount: number, nicCount: number) {
  return {
    targetVmId: uuidv7(),
    identity: {
      diskIds: Array.from({ length: diskCount }, () => uuidv7()),
      macAddresses: Array.from({ length: nicCount }, generateMacAddress),
      biosUuid: uuidv7(),
    },
  };
}
