import { deciderSpecification } from '@dolly/testing/pure';
import { type WorkerAnnounced, groupsStillServed, workerDecider } from './worker';

const ds = (n: number) => `0190f3a0-0000-7000-8000-00000000000${n}`;
const announced = (group: string, datastoreIds: string[]): WorkerAnnounced => ({
  type: 'WorkerAnnounced',
  data: { workerId: 'worker-1', group, datastoreIds },
});
const both = announced('workers-both', [ds(1), ds(2)]);
const firstOnly = announced('workers-first', [ds(1)]);
const secondOnly = announced('workers-second', [ds(2)]);

const spec = deciderSpecification(workerDecider);
const stateAfter = (events: WorkerAnnounced[]) =>
  events.reduce(workerDecider.evolve, workerDecider.initialState());

describe('Worker', () => {
  it('announces the datastores it serves', () => {
    spec.given([]).when({ type: 'AnnounceWorker', data: both.data }).then([both]);
  });

  it('says nothing when it restarts with the same datastores', () => {
    spec.given([both]).when({ type: 'AnnounceWorker', data: both.data }).then([]);
  });

  it('announces again when it reaches fewer datastores', () => {
    spec.given([both]).when({ type: 'AnnounceWorker', data: firstOnly.data }).then([firstOnly]);
  });

  describe('groups it still serves', () => {
    it('has none before it moved', () => {
      expect(groupsStillServed(stateAfter([]))).toEqual([]);
      expect(groupsStillServed(stateAfter([both]))).toEqual([]);
    });

    it('keeps a group it left when it still reaches all of that group’s datastores', () => {
      // One datastore went missing and came back: jobs placed on the smaller group meanwhile are its.
      expect(groupsStillServed(stateAfter([both, firstOnly, both]))).toEqual(['workers-first']);
    });

    it('leaves a group whose datastores it no longer all reaches', () => {
      expect(groupsStillServed(stateAfter([both, firstOnly]))).toEqual([]);
      expect(groupsStillServed(stateAfter([firstOnly, secondOnly]))).toEqual([]);
    });

    it('does not count the group it serves now among those it left', () => {
      expect(groupsStillServed(stateAfter([both, firstOnly, both, firstOnly]))).toEqual([]);
      expect(stateAfter([both, firstOnly, both, firstOnly])).toMatchObject({
        group: 'workers-first',
        earlierGroups: { 'workers-both': [ds(1), ds(2)] },
      });
    });
  });
});
