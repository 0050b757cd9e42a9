import { vmCreatedDataV1 } from '@dolly/testing/pure';
import { catalogEntry, currentSchemaVersion, upcastToCurrent } from './event-catalog';

/** Events recorded before the security release read as their current versions, meaning what they meant. */
const vmId = '0190f3a0-0000-7000-8000-000000000001';
const taskId = '0190f3a0-0000-7000-8000-00000000f001';
const poolId = '0190f3a0-0000-7000-8000-0000000000c1';
const vmCreatedV1 = (origin: unknown, role = 'vm') => vmCreatedDataV1(vmId, role, origin);

describe('upcasting to the security release’s versions', () => {
  it('is where the catalog says the current versions are', () => {
    expect(
      ['VmCreated', 'VmPowerChangeRequested', 'VmDeletionRequested', 'DatastoreRegistered'].map(
        (type) => [type, currentSchemaVersion(type), catalogEntry(type).versions.length],
      ),
    ).toEqual([
      // v3 (after the security release): a VM imported from an OVF package.
      ['VmCreated', 3, 3],
      ['VmPowerChangeRequested', 2, 2],
      ['VmDeletionRequested', 2, 2],
      ['DatastoreRegistered', 2, 2],
    ]);
  });

  it('gives a pool’s instant clone its pool, and every other VM none', () => {
    const fork = { kind: 'fork', parentVmId: vmId, replicaVmId: null, poolId };
    expect(upcastToCurrent('VmCreated', 1, vmCreatedV1(fork, 'instant-clone'))).toMatchObject({
      poolId,
    });
    expect(upcastToCurrent('VmCreated', 1, vmCreatedV1({ kind: 'new' }))).toMatchObject({
      poolId: null,
    });
    expect(
      upcastToCurrent('VmCreated', 1, vmCreatedV1({ ...fork, poolId: null }, 'instant-clone')),
    ).toMatchObject({ poolId: null });
  });

  it('records nothing forced and no datastore adopted before either could be', () => {
    expect(
      upcastToCurrent('VmPowerChangeRequested', 1, { vmId, taskId, to: 'poweredOff' }),
    ).toEqual({ vmId, taskId, to: 'poweredOff', forced: false });
    expect(upcastToCurrent('VmDeletionRequested', 1, { vmId, taskId })).toEqual({
      vmId,
      taskId,
      forced: false,
    });
    expect(
      upcastToCurrent('DatastoreRegistered', 1, {
        datastoreId: vmId,
        name: 'ds-01',
        capacityBytes: 1024,
        folder: '/srv/ds-01',
        overcommitRatio: 1,
      }),
    ).toMatchObject({ adopted: false });
  });
});
