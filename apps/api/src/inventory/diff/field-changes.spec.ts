import { fieldChanges } from './field-changes';

describe('fieldChanges', () => {
  it('names each changed field by its pointer, with what it was and what it is', () => {
    expect(
      fieldChanges(
        { name: 'web', hardware: { vcpus: 2, memoryBytes: 4 }, disks: [{ id: 'a', size: 1 }] },
        { name: 'web-2', hardware: { vcpus: 4, memoryBytes: 4 }, disks: [{ id: 'a', size: 2 }] },
      ),
    ).toEqual([
      { field: '/name', from: 'web', to: 'web-2' },
      { field: '/hardware/vcpus', from: 2, to: 4 },
      { field: '/disks/0/size', from: 1, to: 2 },
    ]);
  });

  it('takes a list that changed length whole, a field that came or went as null on one side', () => {
    expect(fieldChanges({ nics: [1], live: null }, { nics: [1, 2], snapshot: 's' })).toEqual([
      { field: '/nics', from: [1], to: [1, 2] },
      { field: '/snapshot', from: null, to: 's' },
    ]);
  });

  it('finds nothing between equal objects, and leaves out the fields it is told to', () => {
    expect(fieldChanges({ a: { b: [1, { c: 2 }] } }, { a: { b: [1, { c: 2 }] } })).toEqual([]);
    expect(fieldChanges({ version: 1, name: 'x' }, { version: 2, name: 'x' }, ['version'])).toEqual(
      [],
    );
  });

  it('escapes / and ~ in a field’s name as JSON pointers do', () => {
    expect(fieldChanges({ 'a/b~c': 1 }, { 'a/b~c': 2 })).toEqual([
      { field: '/a~1b~0c', from: 1, to: 2 },
    ]);
  });
});
