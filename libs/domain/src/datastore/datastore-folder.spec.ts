import { type FolderFacts, isInside, isNormalPath, servingReasons } from './datastore-folder';

const datastoreId = '0190f3a0-0000-7000-8000-0000000000d1';
const ROOT = '/srv/dolly';
const serving = (
  overrides: Partial<FolderFacts>,
  others = [] as Parameters<typeof servingReasons>[1],
) =>
  servingReasons(
    {
      datastoreId,
      requested: `${ROOT}/ds-01`,
      canonical: `${ROOT}/ds-01`,
      roots: [ROOT],
      contents: { kind: 'datastore', datastoreId },
      ...overrides,
    },
    others,
  ).map((reason) => reason.code);

describe('A worker serves a registered datastore from its folder', () => {
  it('when the folder holds this datastore, is empty, or is still to be made', () => {
    expect(serving({})).toEqual([]);
    expect(serving({ contents: { kind: 'empty' } })).toEqual([]);
    expect(serving({ contents: { kind: 'absent' } })).toEqual([]);
  });

  it('never when it holds somebody’s files, or another datastore', () => {
    expect(serving({ contents: { kind: 'files', examples: ['notes.txt'] } })).toEqual([
      'DATASTORE.FOLDER_NOT_EMPTY',
    ]);
    expect(
      serving({
        contents: { kind: 'datastore', datastoreId: '0190f3a0-0000-7000-8000-000000000bad' },
      }),
    ).toEqual(['DATASTORE.FOLDER_HOLDS_DATASTORE']);
  });

  it('never when the registration names a folder outside the roots (a forged or stale registration)', () => {
    expect(serving({ requested: '/etc', canonical: '/etc' })).toEqual([
      'DATASTORE.FOLDER_OUTSIDE_ROOTS',
    ]);
  });

  it('never when the folder was replaced by a symlink since it was registered', () => {
    expect(serving({ canonical: '/home/ann' })).toEqual([
      'DATASTORE.FOLDER_OUTSIDE_ROOTS',
      'DATASTORE.FOLDER_MOVED',
    ]);
  });

  it('never inside another datastore', () => {
    expect(serving({}, [{ datastoreId: 'other', name: 'ds-00', folder: ROOT + '/ds-01' }])).toEqual(
      ['DATASTORE.FOLDER_OVERLAPS'],
    );
  });
});

describe('paths', () => {
  it.each([
    ['/srv/dolly/ds', true],
    ['/', true],
    ['/srv/dolly/', false],
    ['/srv//dolly', false],
    ['/srv/./dolly', false],
    ['/srv/../etc', false],
    ['srv/dolly', false],
    ['/srv/do\0lly', false],
  ])('%s is normal: %s', (path, normal) => {
    expect(isNormalPath(path)).toBe(normal);
  });

  it('inside means strictly below, by whole segments', () => {
    expect(isInside('/srv/dolly/ds', '/srv/dolly')).toBe(true);
    expect(isInside('/srv/dolly', '/srv/dolly')).toBe(false);
    expect(isInside('/srv/dollyX', '/srv/dolly')).toBe(false);
    expect(isInside('/anything', '/')).toBe(true);
  });
});
