import { ValidationError } from '@dolly/domain';
import { validateRequest } from '@dolly/platform';
import { ImportFromPathRequest, ImportTarget } from './import-vm.request';

const HOST = '0190a8f4-0000-7000-8000-000000000001';
const DATASTORE = '0190a8f4-0000-7000-8000-000000000002';
const good = { hostId: HOST, datastoreId: DATASTORE, name: 'web-01' };

function reasonsOf(schema: typeof ImportTarget | typeof ImportFromPathRequest, body: unknown) {
  try {
    validateRequest(schema, body);
  } catch (error) {
    if (error instanceof ValidationError) return error.reasons.map((r) => [r.code, r.pointer]);
    throw error;
  }
  return [];
}

describe('the import request', () => {
  it('takes a target with every choice', () => {
    expect(
      reasonsOf(ImportTarget, {
        ...good,
        folder: '/dc/vm',
        role: 'template',
        diskFormat: 'thick-eager-zeroed',
        networkMapping: { 'VM Network': 'pg-web' },
        deploymentOption: 'small',
        properties: { 'app.ip': '10.0.0.1' },
        virtualSystemId: 'web',
        requireCertificate: true,
      }),
    ).toEqual([]);
  });

  it('says every bad field at once', () => {
    expect(
      reasonsOf(ImportTarget, {
        hostId: 'not-a-uuid',
        name: 'a/b',
        role: 'golden-image',
        diskFormat: 'sparse',
        vcpus: 4,
        requireCertificate: 'yes',
      }),
    ).toEqual(
      expect.arrayContaining([
        ['REQUEST.REQUIRED', '/datastoreId'],
        ['REQUEST.FORMAT', '/hostId'],
        ['REQUEST.PATTERN', '/name'],
        ['REQUEST.NOT_ALLOWED', '/role'],
        ['REQUEST.NOT_ALLOWED', '/diskFormat'],
        ['REQUEST.UNKNOWN_FIELD', '/vcpus'],
        ['REQUEST.TYPE', '/requireCertificate'],
      ]),
    );
  });

  it('refuses maps too large to be a package’s and values that are not text', () => {
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`net${i}`, 'pg']));
    const reasons = reasonsOf(ImportTarget, {
      ...good,
      networkMapping: many,
      properties: { 'app.port': 8080, 'app.big': 'x'.repeat(70_000) },
    });
    expect(reasons).toEqual(
      expect.arrayContaining([
        ['REQUEST.MAX_PROPERTIES', '/networkMapping'],
        ['REQUEST.TYPE', '/properties/app.port'],
        ['REQUEST.MAX_LENGTH', '/properties/app.big'],
      ]),
    );
  });

  it('refuses a source path that is relative, climbs out, or is no package', () => {
    for (const path of [
      'imports/app.ova',
      'app.ova',
      '/imports/app.tar',
      '/imports/app.ova\0.ovf',
      '',
    ]) {
      expect(reasonsOf(ImportFromPathRequest, { ...good, source: { path } })).not.toEqual([]);
    }
    // '..' is a name here: confinement is checked on the path resolved (package-source.ts).
    expect(
      reasonsOf(ImportFromPathRequest, { ...good, source: { path: '/imports/app.ova' } }),
    ).toEqual([]);
  });

  it('refuses a path longer than any file system takes', () => {
    expect(
      reasonsOf(ImportFromPathRequest, { ...good, source: { path: `/${'a'.repeat(5000)}.ova` } }),
    ).toEqual([['REQUEST.MAX_LENGTH', '/source/path']]);
  });

  it('refuses an unknown source kind or field', () => {
    expect(
      reasonsOf(ImportFromPathRequest, { ...good, source: { path: '/i/a.ova', url: 'http://x' } }),
    ).toEqual([['REQUEST.UNKNOWN_FIELD', '/source/url']]);
  });
});
