import {
  datastoreEvents,
  inventory,
  stream,
  vmEvents,
  workflowSpecification,
} from '@dolly/testing/pure';
import { DomainError } from '../shared/errors';
import { STREAM_FOLDS, StreamNotLoadedError, Workspace } from './workspace';

const { vmId, datastoreId } = inventory;
const taskId = '0190f3a0-0000-7000-8000-000000000e06';
const spec = workflowSpecification();
const claim = { diskId: 'd1', physicalBytes: 1024, provisionedBytes: 1024 };
const reserve = (claims = [claim]) =>
  ({ type: 'ReserveSpace', data: { datastoreId, taskId, claims } }) as const;
const reserved = { type: 'DatastoreSpaceReserved', data: { datastoreId, taskId, claims: [claim] } };
const renamed = {
  type: 'VmRenamed',
  data: { vmId, name: 'renamed', previousName: 'win11-golden' },
};
const datastore = stream('datastore', datastoreId, datastoreEvents);

describe('Workspace', () => {
  it('refuses to decide on a stream it did not read', () => {
    const ws = new Workspace([]);
    expect(() => ws.vm(vmId)).toThrow(StreamNotLoadedError);
    try {
      ws.datastore(datastoreId);
    } catch (error) {
      expect((error as StreamNotLoadedError).key).toEqual({ kind: 'datastore', id: datastoreId });
    }
  });

  it('a stream the decision makes starts empty; one it read keeps its state', () => {
    const ws = new Workspace([
      {
        key: { kind: 'vm', id: vmId },
        state: vmEvents.reduce(STREAM_FOLDS.vm.evolve, STREAM_FOLDS.vm.initialState()),
      },
    ]);
    ws.create('vm', 'new');
    ws.create('vm', vmId);
    expect(ws.vm('new').status).toBe('absent');
    expect(ws.vm(vmId).status).toBe('present');
    expect(ws.idsOf('vm').sort()).toEqual(['new', vmId].sort());
    expect(ws.changes()).toEqual([]);
  });

  it('each step sees what earlier steps decided; the events are kept by stream, in order', () => {
    spec
      .given(datastore, stream('vm', vmId, vmEvents))
      .when((ws) => {
        ws.decideDatastore(reserve());
        ws.decideVm({ type: 'RenameVm', data: { vmId, name: 'renamed' } });
        // The datastore's state holds the claim decided a step earlier.
        const held = ws.datastore(datastoreId);
        expect(held.status === 'registered' && Object.keys(held.claims)).toEqual([claim.diskId]);
      })
      .then(stream('datastore', datastoreId, [reserved]), stream('vm', vmId, [renamed]));
  });

  it('records measurements without a decision, folded like decided events', () => {
    const usage = {
      type: 'DatastoreUsageMeasured',
      data: { datastoreId, provisionedBytes: 1, usedBytes: 2, sharedBytes: 0, ownBytes: 2 },
    } as const;
    spec
      .given(datastore)
      .when((ws) => {
        ws.record('datastore', datastoreId, [usage]);
        ws.record('datastore', datastoreId, []);
        const state = ws.datastore(datastoreId);
        return state.status === 'registered' && state.usage !== null;
      })
      .then(stream('datastore', datastoreId, [usage]));
  });

  it('a step refused part way leaves every stream as it was before the step', () => {
    const result = spec
      .given(datastore, stream('vm', vmId, vmEvents))
      .when((ws) => {
        ws.decideVm({ type: 'RenameVm', data: { vmId, name: 'renamed' } });
        try {
          ws.attempt(() => {
            ws.decideDatastore(reserve());
            ws.decideDatastore(reserve([{ ...claim, diskId: 'd2', physicalBytes: 2 ** 50 }]));
          });
        } catch (error) {
          return error instanceof DomainError ? error.code : 'other';
        }
        return 'accepted';
      })
      .then(stream('vm', vmId, [renamed]));
    expect(result).toBe('DATASTORE.INSUFFICIENT_SPACE');
  });
});
