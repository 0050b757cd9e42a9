import { execFile } from 'node:child_process';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(__dirname, '..', '..', '..');

/** Every file a fresh Node process loads to import `entry` (as the unit specs resolve it). */
async function filesLoadedBy(entry: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `require(${JSON.stringify(entry)}); console.log(JSON.stringify(Object.keys(require.cache)))`,
    ],
    { cwd: ROOT },
  );
  return (JSON.parse(stdout) as string[]).map((file) => relative(ROOT, file).split(sep).join('/'));
}

const packageOf = (file: string) => {
  const [scopeOrName, name] = file.slice('node_modules/'.length).split('/');
  return scopeOrName.startsWith('@') ? `${scopeOrName}/${name}` : scopeOrName;
};

/** The clients of the services the unit suite runs without. */
const INFRASTRUCTURE_PACKAGE = /^(kafkajs|pg|pg-.*|typeorm|@nestjs\/.*)$/;
/** The Dolly code a pure spec may stand on. */
const PURE_DOLLY_CODE = ['libs/testing/src/pure/', 'libs/domain/src/', 'libs/contracts/src/'];

describe('@dolly/testing/pure', () => {
  // A child process: this suite's own module registry already holds what other specs loaded.
  jest.setTimeout(60_000);

  it('loads no client of Kafka, PostgreSQL or NestJS, and no Dolly code but the domain and contracts', async () => {
    const loaded = await filesLoadedBy('@dolly/testing/pure');
    expect(loaded).toContain('libs/testing/src/pure/index.ts');

    const packages = [
      ...new Set(loaded.filter((f) => f.startsWith('node_modules/')).map(packageOf)),
    ];
    expect(packages.filter((name) => INFRASTRUCTURE_PACKAGE.test(name))).toEqual([]);
    const dollyCode = loaded.filter((f) => !f.startsWith('node_modules/'));
    expect(dollyCode.filter((f) => !PURE_DOLLY_CODE.some((dir) => f.startsWith(dir)))).toEqual([]);
  });

  it('is what @dolly/testing re-exports, beside the infrastructure helpers (which do load them)', async () => {
    const loaded = await filesLoadedBy('@dolly/testing');

    expect(loaded).toContain('libs/testing/src/pure/index.ts');
    expect(loaded.some((f) => f.startsWith('node_modules/kafkajs/'))).toBe(true);
    expect(loaded.some((f) => f.startsWith('node_modules/pg/'))).toBe(true);
  });
});
