/**
 * transientBytesPassed in a node of its own (--expose-gc is a process flag): V8's own trace
 * names each collection the script asked for "testing".
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MODULE = join(__dirname, 'young-garbage.ts');

/** Passes `chunks` chunks of `chunkBytes`; how many young collections the script asked for. */
async function collectionsAsked(
  nodeFlags: string[],
  chunks: number,
  chunkBytes: number,
): Promise<number> {
  const script = `const { transientBytesPassed } = require(${JSON.stringify(MODULE)});
for (let i = 0; i < ${chunks}; i++) transientBytesPassed(${chunkBytes});`;
  const { stdout } = await run(
    process.execPath,
    [...nodeFlags, '--trace-gc', '--require', 'tsx/cjs', '-e', script],
    { cwd: join(__dirname, '..', '..', '..') },
  );
  return stdout.split('\n').filter((line) => /Scavenge.*testing/.test(line)).length;
}

describe('transientBytesPassed', () => {
  it('collects the young generation once per 16 MiB passed, counted across calls', async () => {
    expect(await collectionsAsked(['--expose-gc'], 80, 1 << 20)).toBe(5);
    expect(await collectionsAsked(['--expose-gc'], 3, 6 << 20)).toBe(1);
    expect(await collectionsAsked(['--expose-gc'], 15, 1 << 20)).toBe(0);
  });

  it('does nothing, and throws nothing, where gc is not exposed', async () => {
    expect(await collectionsAsked([], 80, 1 << 20)).toBe(0);
  });
});
