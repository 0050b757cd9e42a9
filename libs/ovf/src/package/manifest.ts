import type { PackageReason } from '../model';

export type DigestAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

/** node:crypto's name of each manifest algorithm. */
export const HASH_NAMES: Record<DigestAlgorithm, string> = {
  SHA1: 'sha1',
  SHA256: 'sha256',
  SHA512: 'sha512',
};
const HEX_LENGTHS: Record<DigestAlgorithm, number> = { SHA1: 40, SHA256: 64, SHA512: 128 };

export interface ManifestEntry {
  /** The member the line names, as written between the parentheses. */
  name: string;
  algorithm: DigestAlgorithm;
  /** Lower case. */
  hex: string;
}

export interface ParsedManifest {
  /** The well-formed lines; a name refused as a duplicate keeps its first line. */
  entries: ManifestEntry[];
  /** Every line that is not one; the package is refused when any. */
  reasons: PackageReason[];
}

export const MAX_MANIFEST_LINES = 10_000;
const MAX_LINE_LENGTH = 1024;
// Greedy name: a `)` inside a name stays in it; the last `)=` closes it. ovftool writes `= ` and,
// in some versions, `=` with no space.
const LINE = /^([A-Za-z0-9-]+)\((.*)\)= ?([0-9A-Fa-f]*)$/;

/**
 * A manifest (`.mf`): one `ALGORITHM(name)= hex` line per member. Every line that is not such a
 * line (unknown algorithm, wrong digest length, no name, a name twice) is a reason of its own;
 * blank lines and a final newline are allowed, and CRLF line ends.
 */
export function parseManifest(text: string): ParsedManifest {
  const entries: ManifestEntry[] = [];
  const reasons: PackageReason[] = [];
  const seen = new Set<string>();
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  if (lines.length > MAX_MANIFEST_LINES) {
    return {
      entries: [],
      reasons: [
        {
          code: 'MANIFEST.TOO_MANY_LINES',
          detail: `manifest of ${lines.length} lines, at most ${MAX_MANIFEST_LINES}`,
        },
      ],
    };
  }
  lines.forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const at = `line ${index + 1}`;
    if (line.trim() === '') return;
    const shown = JSON.stringify(line.length > 120 ? `${line.slice(0, 120)}…` : line);
    const match = line.length <= MAX_LINE_LENGTH ? LINE.exec(line) : null;
    if (!match) {
      reasons.push({
        code: 'MANIFEST.BAD_LINE',
        detail: `manifest ${at} is not ALGORITHM(name)= digest: ${shown}`,
        at,
      });
      return;
    }
    const [, algorithmText, name, hexText] = match;
    const algorithm = algorithmText.toUpperCase();
    if (!isDigestAlgorithm(algorithm)) {
      reasons.push({
        code: 'MANIFEST.UNSUPPORTED_ALGORITHM',
        detail: `manifest ${at} uses ${algorithmText}; SHA1, SHA256 or SHA512 expected`,
        at,
      });
      return;
    }
    if (hexText.length !== HEX_LENGTHS[algorithm]) {
      reasons.push({
        code: 'MANIFEST.BAD_DIGEST',
        detail: `manifest ${at}: a ${algorithm} digest is ${HEX_LENGTHS[algorithm]} hex digits, not ${hexText.length}`,
        at,
      });
      return;
    }
    if (name === '') {
      reasons.push({ code: 'MANIFEST.BAD_LINE', detail: `manifest ${at} names no member`, at });
      return;
    }
    if (seen.has(name)) {
      reasons.push({
        code: 'MANIFEST.DUPLICATE_ENTRY',
        detail: `manifest ${at} lists ${JSON.stringify(name)} again`,
        at: name,
      });
      return;
    }
    seen.add(name);
    entries.push({ name, algorithm, hex: hexText.toLowerCase() });
  });
  return { entries, reasons };
}

export function isDigestAlgorithm(text: string): text is DigestAlgorithm {
  return text === 'SHA1' || text === 'SHA256' || text === 'SHA512';
}
