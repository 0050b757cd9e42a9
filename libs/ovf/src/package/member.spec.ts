import { PackageRefused } from '../model';
import { MemberNameChecks, memberNameReasons } from './member';

const codes = (name: string): string[] => memberNameReasons(name).map((reason) => reason.code);

describe('member names', () => {
  it('accepts the flat names of a package', () => {
    for (const name of [
      'app.ovf',
      'app.mf',
      'app-disk1.vmdk',
      'disk.vmdk.000000001',
      'My App (1).iso',
    ])
      expect(codes(name)).toEqual([]);
  });

  it.each([
    ['', 'PACKAGE.NAME_EMPTY'],
    ['../x', 'PACKAGE.PATH_TRAVERSAL'],
    ['..', 'PACKAGE.PATH_TRAVERSAL'],
    ['./app.ovf', 'PACKAGE.PATH_TRAVERSAL'],
    ['a/../../x', 'PACKAGE.PATH_TRAVERSAL'],
    ['..\\x', 'PACKAGE.PATH_TRAVERSAL'],
    ['disks/disk1.vmdk', 'PACKAGE.NAME_HAS_DIRECTORY'],
    ['x\u0000.vmdk', 'PACKAGE.NAME_CONTROL_CHARACTER'],
    ['a\nb', 'PACKAGE.NAME_CONTROL_CHARACTER'],
    ['n'.repeat(256), 'PACKAGE.NAME_TOO_LONG'],
  ])('refuses %j (%s)', (name, code) => {
    expect(codes(name)).toContain(code);
  });

  it('says every fault of one name: absolute and a directory part', () => {
    expect(codes('/etc/passwd')).toEqual(['PACKAGE.PATH_ABSOLUTE', 'PACKAGE.NAME_HAS_DIRECTORY']);
    expect(codes('C:\\Windows\\x')).toEqual([
      'PACKAGE.PATH_ABSOLUTE',
      'PACKAGE.NAME_HAS_DIRECTORY',
    ]);
  });

  it('refuses a name seen twice and collects the reasons of every member', () => {
    const checks = new MemberNameChecks();
    expect(checks.admit('a.ovf')).toBe(true);
    expect(checks.admit('../x')).toBe(false);
    expect(checks.admit('a.ovf')).toBe(false);
    expect(() => checks.finish()).toThrow(PackageRefused);
    expect(checks.reasons.map((reason) => reason.code)).toEqual([
      'PACKAGE.PATH_TRAVERSAL',
      'PACKAGE.DUPLICATE_MEMBER',
    ]);
  });

  it('stops at the member bound with one reason', () => {
    const checks = new MemberNameChecks({ maxMembers: 3, maxNameLength: 255 });
    ['a', 'b', 'c'].forEach((name) => checks.admit(name));
    expect(() => checks.admit('d')).toThrow(PackageRefused);
    expect(checks.reasons.map((reason) => reason.code)).toEqual(['PACKAGE.TOO_MANY_MEMBERS']);
  });
});
