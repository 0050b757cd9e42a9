import fc from 'fast-check';
import { verifyCertificate } from './certificate';
import { parseManifest } from './manifest';

/**
 * The manifest and certificate parsers read untrusted text: whatever they are given, they return
 * (never throw, never hang), and every refusal is a reason with a code.
 */
// Generous: it tells a hang (or runaway backtracking) from a slow machine, it does not time the parser.
const BOUNDED_MS = 2000;

const validManifest = [
  `SHA256(app.ovf)= ${'a'.repeat(64)}`,
  `SHA1(disk1.vmdk)= ${'b'.repeat(40)}`,
  `SHA512(disk2.vmdk)= ${'c'.repeat(128)}`,
].join('\n');

/** A valid text with bytes flipped, cut, or repeated in it. */
const mutated = (valid: string) =>
  fc
    .record({
      at: fc.nat({ max: valid.length }),
      cut: fc.nat({ max: valid.length }),
      insert: fc.string({ maxLength: 40, unit: 'binary' }),
      repeat: fc.nat({ max: 50 }),
    })
    .map(({ at, cut, insert, repeat }) =>
      (valid.slice(0, at) + insert + valid.slice(at + cut)).repeat(Math.max(1, repeat)),
    );

function timed<T>(run: () => T): T {
  const started = performance.now();
  const result = run();
  expect(performance.now() - started).toBeLessThan(BOUNDED_MS);
  return result;
}

describe('the manifest parser, on any text', () => {
  it('returns entries and coded reasons, never throws, in bounded time', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 2000, unit: 'binary' }), mutated(validManifest)),
        (text) => {
          const parsed = timed(() => parseManifest(text));
          for (const reason of parsed.reasons) expect(reason.code).toMatch(/^[A-Z_]+\.[A-Z_]+$/);
          for (const entry of parsed.entries) expect(entry.hex).toMatch(/^[0-9a-f]+$/);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('the certificate check, on any text', () => {
  it('refuses with coded reasons, never throws, in bounded time', () => {
    const manifest = Buffer.from(validManifest);
    const certificate = `SHA256(app.mf)= ${'d'.repeat(512)}\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n`;
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 4000, unit: 'binary' }), mutated(certificate)),
        fc.boolean(),
        (text, requireCertificate) => {
          const check = timed(() =>
            verifyCertificate(text, 'app.mf', manifest, { requireCertificate }),
          );
          // Nothing forged from these pieces is a valid signature over the manifest.
          expect(check.ok).toBe(false);
          if (!check.ok) {
            expect(check.reasons.length).toBeGreaterThan(0);
            for (const reason of check.reasons) expect(reason.code).toMatch(/^[A-Z_]+\.[A-Z_]+$/);
          }
        },
      ),
      { numRuns: 800 },
    );
  });
});
