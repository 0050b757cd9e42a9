/**
 * The environment QEMU's tools run in: glibc's malloc settings that keep request buffers in the
 * heap, with an operator's own GLIBC_TUNABLES kept and winning.
 */
import { QEMU_MALLOC_TUNABLES, run } from './process';

const tunablesSeenByChild = async (): Promise<string | undefined> => {
  const { stdout } = await run('/usr/bin/env', []);
  return stdout
    .split('\n')
    .find((line) => line.startsWith('GLIBC_TUNABLES='))
    ?.slice('GLIBC_TUNABLES='.length);
};

describe('QEMU child environment', () => {
  const operators = process.env.GLIBC_TUNABLES;
  afterEach(() => {
    if (operators === undefined) delete process.env.GLIBC_TUNABLES;
    else process.env.GLIBC_TUNABLES = operators;
  });

  it("sets the heap's thresholds above QEMU's largest NBD request", async () => {
    delete process.env.GLIBC_TUNABLES;
    expect(await tunablesSeenByChild()).toBe(QEMU_MALLOC_TUNABLES);
    const settings = Object.fromEntries(
      QEMU_MALLOC_TUNABLES.split(':').map((entry) => entry.split('=') as [string, string]),
    );
    expect(Number(settings['glibc.malloc.mmap_threshold'])).toBeGreaterThanOrEqual(32 << 20);
    expect(Number(settings['glibc.malloc.trim_threshold'])).toBeGreaterThan(
      Number(settings['glibc.malloc.mmap_threshold']),
    );
  });

  it("keeps an operator's GLIBC_TUNABLES, after Dolly's so they win", async () => {
    process.env.GLIBC_TUNABLES = 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=1048576';
    expect(await tunablesSeenByChild()).toBe(
      `${QEMU_MALLOC_TUNABLES}:glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=1048576`,
    );
  });

  it('passes the rest of the environment on', async () => {
    process.env.DOLLY_PROCESS_SPEC_MARK = 'kept';
    try {
      const { stdout } = await run('/usr/bin/env', []);
      expect(stdout.split('\n')).toContain('DOLLY_PROCESS_SPEC_MARK=kept');
    } finally {
      delete process.env.DOLLY_PROCESS_SPEC_MARK;
    }
  });
});
