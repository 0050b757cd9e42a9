import { deciderSpecification } from '@dolly/testing/pure';
import type {
  DatastoreRegistered,
  DatastoreRemoved,
  DatastoreSpaceReserved,
} from './datastore.events';
import {
  type DatastoreContext,
  type RegisterDatastore,
  type ReportAccessibility,
  accessibilityOf,
  datastoreDecider,
  guardQuarantineRestore,
} from './datastore';
import type { FolderContents, FolderFacts } from './datastore-folder';

const datastoreId = '0190f3a0-0000-7000-8000-0000000000d1';
const otherId = '0190f3a0-0000-7000-8000-0000000000d2';
const ROOT = '/srv/dolly';

const registered: DatastoreRegistered = {
  type: 'DatastoreRegistered',
  data: {
    datastoreId,
    name: 'ds-01',
    capacityBytes: 1024 ** 4,
    folder: `${ROOT}/ds-01`,
    overcommitRatio: 1.5,
    adopted: false,
  },
};

const facts = (folder: string, overrides: Partial<FolderFacts> = {}): FolderFacts => ({
  requested: folder,
  canonical: folder,
  roots: [ROOT],
  contents: { kind: 'empty' },
  ...overrides,
});

const register = (
  folder: string,
  overrides: Partial<FolderFacts> = {},
  adopt = false,
): RegisterDatastore => {
  const { adopted: _adopted, folder: _folder, ...data } = registered.data;
  return {
    type: 'RegisterDatastore',
    data: { ...data, folder, adopt, folderFacts: facts(folder, overrides) },
  };
};

const inventory: DatastoreContext = {
  others: [{ datastoreId: otherId, name: 'ds-02', folder: `${ROOT}/ds-02` }],
};
const files: FolderContents = { kind: 'files', examples: ['passwords.txt', 'photos'] };

const spec = deciderSpecification(datastoreDecider, inventory);

describe('Datastore', () => {
  describe('registering', () => {
    it('takes an empty folder inside a root, recorded where it really is', () => {
      spec
        .given([])
        .when(register(`${ROOT}/ds-01`))
        .then([registered]);
    });

    it('takes a folder that does not exist yet (the worker makes it)', () => {
      spec
        .given([])
        .when(register(`${ROOT}/ds-01`, { contents: { kind: 'absent' } }))
        .then([registered]);
    });

    it('records the resolved folder when the request named it through a symlink', () => {
      spec
        .given([])
        .when(register('/srv/link-to-dolly/ds-01', { canonical: `${ROOT}/ds-01` }))
        .then([registered]);
    });

    it('refuses a second registration', () => {
      spec
        .given([registered])
        .when(register(`${ROOT}/ds-01`))
        .thenThrows('DATASTORE.ALREADY_REGISTERED');
    });

    describe('refuses a folder outside what the operator allows', () => {
      it.each(['/etc', '/root', '/srv/share', '/srv/dollyX/ds', '/tmp'])('%s', (folder) => {
        spec
          .given([])
          .when(register(folder))
          .thenThrows('DATASTORE.FOLDER_REFUSED', ['DATASTORE.FOLDER_OUTSIDE_ROOTS']);
      });

      it('/, which holds every other datastore too', () => {
        spec
          .given([])
          .when(register('/'))
          .thenThrows('DATASTORE.FOLDER_REFUSED', [
            'DATASTORE.FOLDER_OUTSIDE_ROOTS',
            'DATASTORE.FOLDER_OVERLAPS',
          ]);
      });

      it('a symlink inside a root that leads out', () => {
        spec
          .given([])
          .when(register(`${ROOT}/escape`, { canonical: '/home/ann' }))
          .thenThrows('DATASTORE.FOLDER_REFUSED', ['DATASTORE.FOLDER_OUTSIDE_ROOTS']);
      });

      it('a path climbing out with ..', () => {
        spec
          .given([])
          .when(register(`${ROOT}/../../etc`, { canonical: '/etc' }))
          .thenThrows('DATASTORE.FOLDER_REFUSED', [
            'DATASTORE.FOLDER_NOT_NORMAL',
            'DATASTORE.FOLDER_OUTSIDE_ROOTS',
          ]);
      });

      it('the root itself', () => {
        spec
          .given([], { others: [] })
          .when(register(ROOT))
          .thenThrows('DATASTORE.FOLDER_REFUSED', ['DATASTORE.FOLDER_IS_ROOT']);
      });

      it('anything, when no root is configured', () => {
        spec
          .given([])
          .when(register(`${ROOT}/ds-01`, { roots: [] }))
          .thenThrows('DATASTORE.FOLDER_REFUSED', ['DATASTORE.NO_ROOTS']);
      });
    });

    describe('refuses a folder that collides with another datastore', () => {
      it.each([
        ['its own folder', `${ROOT}/ds-02`],
        ['inside it', `${ROOT}/ds-02/inner`],
        ['its metadata folder', `${ROOT}/ds-02/.dolly`],
      ])('%s', (_case, folder) => {
        spec
          .given([])
          .when(register(folder))
          .thenThrows('DATASTORE.FOLDER_REFUSED', ['DATASTORE.FOLDER_OVERLAPS']);
      });

      it('a folder around it', () => {
        const nested: DatastoreContext = {
          others: [{ datastoreId: otherId, name: 'ds-02', folder: `${ROOT}/team/ds-02` }],
        };
        spec
          .given([], nested)
          .when(register(`${ROOT}/team`))
          .thenThrows('DATASTORE.FOLDER_REFUSED', ['DATASTORE.FOLDER_OVERLAPS']);
      });
    });

    describe("refuses a folder holding what is not a new datastore's", () => {
      it('somebody’s files', () => {
        spec
          .given([])
          .when(register(`${ROOT}/share`, { contents: files }))
          .thenThrows('DATASTORE.FOLDER_REFUSED', ['DATASTORE.FOLDER_NOT_EMPTY']);
      });

      it('a file, not a folder', () => {
        spec
          .given([])
          .when(register(`${ROOT}/notes.txt`, { contents: { kind: 'not-a-folder' } }))
          .thenThrows('DATASTORE.FOLDER_REFUSED', ['DATASTORE.NOT_A_FOLDER']);
      });

      it('a folder that cannot be read', () => {
        spec
          .given([])
          .when(
            register(`${ROOT}/locked`, {
              contents: { kind: 'unreadable', reason: 'permission denied' },
            }),
          )
          .thenThrows('DATASTORE.FOLDER_REFUSED', ['DATASTORE.FOLDER_UNREADABLE']);
      });

      it('a Dolly datastore, unless adopted', () => {
        spec
          .given([])
          .when(register(`${ROOT}/ds-01`, { contents: { kind: 'datastore', datastoreId } }))
          .thenThrows('DATASTORE.FOLDER_REFUSED', ['DATASTORE.FOLDER_HOLDS_DATASTORE']);
      });
    });

    it('names every reason at once', () => {
      spec
        .given([])
        .when(register(`${ROOT}/ds-02/./x`, { canonical: '/etc/x', contents: files }))
        .thenThrows('DATASTORE.FOLDER_REFUSED', [
          'DATASTORE.FOLDER_NOT_NORMAL',
          'DATASTORE.FOLDER_OUTSIDE_ROOTS',
          'DATASTORE.FOLDER_NOT_EMPTY',
        ]);
    });
  });

  describe('adopting', () => {
    const adopted: DatastoreRegistered = {
      type: 'DatastoreRegistered',
      data: { ...registered.data, adopted: true },
    };
    const holdsIt = { contents: { kind: 'datastore', datastoreId } as FolderContents };

    it('takes a folder holding a Dolly datastore, under the id it carries', () => {
      spec
        .given([])
        .when(register(`${ROOT}/ds-01`, holdsIt, true))
        .then([adopted]);
    });

    it('refuses a folder holding no datastore', () => {
      spec
        .given([])
        .when(register(`${ROOT}/ds-01`, {}, true))
        .thenThrows('DATASTORE.FOLDER_REFUSED', ['DATASTORE.NOTHING_TO_ADOPT']);
    });

    it('refuses a folder holding another datastore than the one named', () => {
      spec
        .given([])
        .when(
          register(
            `${ROOT}/ds-01`,
            { contents: { kind: 'datastore', datastoreId: otherId } },
            true,
          ),
        )
        .thenThrows('DATASTORE.FOLDER_REFUSED', ['DATASTORE.ADOPTED_ID_DIFFERS']);
    });

    it('checks the folder as a registration does', () => {
      spec
        .given([])
        .when(register('/etc', holdsIt, true))
        .thenThrows('DATASTORE.FOLDER_REFUSED', ['DATASTORE.FOLDER_OUTSIDE_ROOTS']);
    });

    const removed: DatastoreRemoved = {
      type: 'DatastoreRemoved',
      data: { datastoreId, name: 'ds-01', folder: `${ROOT}/ds-01` },
    };

    it('brings a removed datastore back', () => {
      spec
        .given([registered, removed])
        .when(register(`${ROOT}/ds-01`, holdsIt, true))
        .then([adopted]);
    });

    it('a removed datastore comes back only by adoption', () => {
      spec
        .given([registered, removed])
        .when(register(`${ROOT}/ds-01`))
        .thenThrows('DATASTORE.REMOVED');
    });
  });

  describe('renaming', () => {
    it('renames', () => {
      spec
        .given([registered])
        .when({ type: 'RenameDatastore', data: { datastoreId, name: 'gold' } })
        .then([
          { type: 'DatastoreRenamed', data: { datastoreId, name: 'gold', previousName: 'ds-01' } },
        ]);
    });

    it('to the same name changes nothing', () => {
      spec
        .given([registered])
        .when({ type: 'RenameDatastore', data: { datastoreId, name: 'ds-01' } })
        .thenNothingHappened();
    });

    it('refuses a datastore that is not registered', () => {
      spec
        .given([])
        .when({ type: 'RenameDatastore', data: { datastoreId, name: 'gold' } })
        .thenThrows('DATASTORE.NOT_FOUND');
    });
  });

  describe('removing', () => {
    const diskId = '0190f3a0-0000-7000-8000-00000000d15c';
    const vmId = '0190f3a0-0000-7000-8000-0000000000a1';
    const reserved: DatastoreSpaceReserved = {
      type: 'DatastoreSpaceReserved',
      data: {
        datastoreId,
        taskId: '0190f3a0-0000-7000-8000-0000000000f1',
        claims: [{ diskId, physicalBytes: 1024, provisionedBytes: 1024 ** 3 }],
      },
    };
    const remove = (vmIdsOnIt: string[] = []) => ({
      type: 'RemoveDatastore' as const,
      data: { datastoreId, vmIdsOnIt },
    });

    it('removes an empty datastore, keeping where its folder is', () => {
      spec
        .given([registered])
        .when(remove())
        .then([
          {
            type: 'DatastoreRemoved',
            data: { datastoreId, name: 'ds-01', folder: `${ROOT}/ds-01` },
          },
        ]);
    });

    it('refuses while a disk stands on it, or a VM is registered there', () => {
      spec
        .given([registered, reserved])
        .when(remove([vmId]))
        .thenThrows('DATASTORE.IN_USE', [
          'DATASTORE.DISK_STANDS_ON_IT',
          'DATASTORE.VM_STANDS_ON_IT',
        ]);
    });

    it('takes no space claims once removed', () => {
      spec
        .given([
          registered,
          {
            type: 'DatastoreRemoved',
            data: { datastoreId, name: 'ds-01', folder: `${ROOT}/ds-01` },
          },
        ])
        .when({ type: 'ReserveSpace', data: reserved.data })
        .thenThrows('DATASTORE.NOT_FOUND');
    });
  });

  describe('accessibility', () => {
    const report = (
      workerId: string,
      problem: { code: string; reason: string } | null,
    ): ReportAccessibility => ({
      type: 'ReportAccessibility',
      data: { datastoreId, workerId, problem },
    });
    const eisdir = { code: 'DISK.IO.EISDIR', reason: 'its lock is a folder' };
    const inaccessible = {
      type: 'DatastoreInaccessible' as const,
      data: { datastoreId, workerId: 'w1', ...eisdir },
    };
    const accessible = {
      type: 'DatastoreAccessible' as const,
      data: { datastoreId, workerId: 'w1' },
    };

    it('records a worker that cannot open the folder, with its reason', () => {
      spec.given([registered]).when(report('w1', eisdir)).then([inaccessible]);
    });

    it('says nothing when a retry fails alike', () => {
      spec.given([registered, inaccessible]).when(report('w1', eisdir)).then([]);
    });

    it('records a new reason', () => {
      const denied = { code: 'DISK.IO.EACCES', reason: 'permission denied' };
      spec
        .given([registered, inaccessible])
        .when(report('w1', denied))
        .then([
          { type: 'DatastoreInaccessible', data: { datastoreId, workerId: 'w1', ...denied } },
        ]);
    });

    it('records the worker opening it again, once', () => {
      spec.given([registered, inaccessible]).when(report('w1', null)).then([accessible]);
      spec.given([registered, inaccessible, accessible]).when(report('w1', null)).then([]);
      spec.given([registered]).when(report('w1', null)).then([]);
    });

    it('is inaccessible while any worker cannot open it, accessible when none', () => {
      const fold = (events: Parameters<typeof datastoreDecider.evolve>[1][]) =>
        events.reduce(datastoreDecider.evolve, datastoreDecider.initialState());
      const state = fold([registered, inaccessible]);
      if (state.status !== 'registered') throw new Error('registered expected');
      expect(accessibilityOf(state)).toEqual({
        accessibility: 'inaccessible',
        reason: 'w1: DISK.IO.EISDIR: its lock is a folder',
      });
      const after = fold([registered, inaccessible, accessible]);
      if (after.status !== 'registered') throw new Error('registered expected');
      expect(accessibilityOf(after)).toEqual({ accessibility: 'accessible', reason: null });
      expect(after).toEqual(fold([registered]));
    });
  });

  describe('quarantine', () => {
    const entries = [
      {
        kind: 'file' as const,
        entry: '2026-12-03T00:00:00.000Z-stray.qcow2',
        fileName: '2026-12-03T00:00:00.000Z-stray.qcow2',
        sizeBytes: 196_608,
        diskIds: [],
        restorable: false,
      },
    ];
    const observe = (list: typeof entries) => ({
      type: 'ObserveQuarantine' as const,
      data: { datastoreId, workerId: 'w1', entries: list },
    });
    const observed = {
      type: 'DatastoreQuarantineObserved' as const,
      data: { datastoreId, workerId: 'w1', entries },
    };

    it('records what a worker sees moved aside, only when it changed', () => {
      spec.given([registered]).when(observe([])).then([]);
      spec.given([registered]).when(observe(entries)).then([observed]);
      spec.given([registered, observed]).when(observe(entries)).then([]);
      spec
        .given([registered, observed])
        .when(observe([]))
        .then([
          {
            type: 'DatastoreQuarantineObserved',
            data: { datastoreId, workerId: 'w1', entries: [] },
          },
        ]);
    });
  });

  describe('restoring a quarantined layer', () => {
    const layer = {
      kind: 'layer' as const,
      entry: 'layer-a',
      fileName: 'layer-a.qcow2',
      sizeBytes: 196_608,
      diskIds: ['disk-a'],
      restorable: true,
    };
    const stray = {
      kind: 'file' as const,
      entry: '2026-12-03T00:00:00.000Z-stray.qcow2',
      fileName: '2026-12-03T00:00:00.000Z-stray.qcow2',
      sizeBytes: 3,
      diskIds: [],
      restorable: false,
    };
    const observed = {
      type: 'DatastoreQuarantineObserved' as const,
      data: { datastoreId, workerId: 'w1', entries: [layer, stray] },
    };
    const restored = {
      type: 'DatastoreLayerRestored' as const,
      data: { datastoreId, layerId: 'layer-a', taskId: otherId, workerId: 'w1' },
    };
    const state = (events: Parameters<typeof datastoreDecider.evolve>[1][]) =>
      events.reduce(datastoreDecider.evolve, datastoreDecider.initialState());
    const refusal = (events: Parameters<typeof datastoreDecider.evolve>[1][], entry: string) => {
      try {
        guardQuarantineRestore(state(events), datastoreId, entry);
        return 'allowed';
      } catch (error) {
        return (error as { code: string }).code;
      }
    };

    it('allows only a quarantined layer of a registered, reachable datastore', () => {
      expect(refusal([registered, observed], 'layer-a')).toBe('allowed');
      expect(refusal([], 'layer-a')).toBe('DATASTORE.NOT_FOUND');
      expect(refusal([registered], 'layer-a')).toBe('QUARANTINE.NOT_FOUND');
      expect(refusal([registered, observed], 'layer-b')).toBe('QUARANTINE.NOT_FOUND');
      expect(refusal([registered, observed], stray.entry)).toBe('QUARANTINE.NOT_RESTORABLE');
      const inaccessible = {
        type: 'DatastoreInaccessible' as const,
        data: { datastoreId, workerId: 'w1', code: 'DISK.IO.EISDIR', reason: 'a folder' },
      };
      expect(refusal([registered, observed, inaccessible], 'layer-a')).toBe(
        'DATASTORE.INACCESSIBLE',
      );
    });

    it('records the layer taken back, which leaves the quarantine list', () => {
      spec
        .given([registered, observed])
        .when({ type: 'RecordLayerRestored', data: restored.data })
        .then([restored]);
      const after = state([registered, observed, restored]);
      expect(after.status === 'registered' && after.quarantine).toEqual([stray]);
      expect(refusal([registered, observed, restored], 'layer-a')).toBe('QUARANTINE.NOT_FOUND');
    });
  });
});
