import { ContentReader } from './content-reader';

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.from(part);
}

describe('ContentReader.readTransient', () => {
  it('gathers bytes that straddle chunks in one kept buffer, and gives one chunk’s as a view', async () => {
    const reader = new ContentReader(chunks('abc', 'def', 'ghij', 'klmnop'));
    const first = await reader.readTransient(5);
    expect(first?.toString()).toBe('abcde');
    const firstMemory = first!.buffer;
    const second = await reader.readTransient(4);
    expect(second?.toString()).toBe('fghi');
    // Kept, not fresh: the second straddling read reuses the first's memory.
    expect(second!.buffer).toBe(firstMemory);
    expect((await reader.readTransient(2))?.toString()).toBe('jk');
    const inOneChunk = await reader.readTransient(3);
    expect(inOneChunk?.toString()).toBe('lmn');
    expect(inOneChunk!.buffer).not.toBe(firstMemory);
    expect(reader.positionBytes).toBe(14);
  });

  it('grows its buffer for a larger read and keeps the bytes exact', async () => {
    const reader = new ContentReader(chunks('ab', 'cd', 'efghijkl', 'mnop'));
    expect((await reader.readTransient(3))?.toString()).toBe('abc');
    expect((await reader.readTransient(11))?.toString()).toBe('defghijklmn');
  });

  it('is null when the content ends first, and consumes what remained', async () => {
    const reader = new ContentReader(chunks('abc', 'de'));
    expect(await reader.readTransient(6)).toBeNull();
    expect(reader.positionBytes).toBe(5);
    expect(await reader.readTransient(1)).toBeNull();
  });

  it('leaves the bytes it gave untouched by a skip', async () => {
    const reader = new ContentReader(chunks('ab', 'cd', 'efgh'));
    const held = await reader.readTransient(3);
    await reader.skip(3);
    expect(held?.toString()).toBe('abc');
    expect((await reader.read(2))?.toString()).toBe('gh');
  });
});
