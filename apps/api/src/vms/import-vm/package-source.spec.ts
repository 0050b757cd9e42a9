import { sourcePathReasons } from './package-source';

const roots = ['/srv/imports', '/mnt/appliances'];
const codes = (requested: string, canonical = requested, allowed = roots) =>
  sourcePathReasons(requested, canonical, allowed).map((r) => r.code);

describe('where a package may be imported from', () => {
  it('takes a package strictly inside an import root', () => {
    expect(codes('/srv/imports/web.ova')).toEqual([]);
    expect(codes('/mnt/appliances/vendor/db.ovf')).toEqual([]);
  });

  it('refuses a path that climbs out with ..', () => {
    expect(codes('/srv/imports/../../etc/shadow.ova', '/etc/shadow.ova')).toEqual([
      'IMPORT.PATH_NOT_NORMAL',
      'IMPORT.PATH_OUTSIDE_ROOTS',
    ]);
    // Even one that climbs back in is written as it is meant, or not at all.
    expect(codes('/srv/imports/x/../web.ova', '/srv/imports/web.ova')).toEqual([
      'IMPORT.PATH_NOT_NORMAL',
    ]);
  });

  it('refuses a symlink that leads out of the roots', () => {
    expect(codes('/srv/imports/link.ova', '/home/ann/secret.ova')).toEqual([
      'IMPORT.PATH_OUTSIDE_ROOTS',
    ]);
  });

  it('refuses a root itself, a sibling sharing its prefix, and relative or odd paths', () => {
    expect(codes('/srv/imports')).toEqual(['IMPORT.PATH_OUTSIDE_ROOTS']);
    expect(codes('/srv/imports-old/web.ova')).toEqual(['IMPORT.PATH_OUTSIDE_ROOTS']);
    expect(codes('srv/imports/web.ova')).toContain('IMPORT.PATH_NOT_NORMAL');
    expect(codes('/srv/imports//web.ova')).toContain('IMPORT.PATH_NOT_NORMAL');
    expect(codes('/srv/imports/web.ova\0.ovf')).toContain('IMPORT.PATH_NOT_NORMAL');
  });

  it('refuses every path when no import root is configured', () => {
    expect(codes('/srv/imports/web.ova', '/srv/imports/web.ova', [])).toEqual([
      'IMPORT.NO_IMPORT_ROOTS',
    ]);
  });
});
