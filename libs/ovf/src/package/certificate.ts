import { X509Certificate, verify } from 'node:crypto';
import type { PackageReason } from '../model';
import { HASH_NAMES, isDigestAlgorithm } from './manifest';

/** What an import requires of a package's certificate. */
export interface CertificatePolicy {
  /** A package without a `.cert` (or without the manifest it signs) is refused. */
  requireCertificate: boolean;
  /** When given, the signer must chain to one of these (PEM); otherwise any valid signer is accepted. */
  trustedCaPems?: string[];
  /** The instant validity dates are checked at; now when absent. */
  validAt?: Date;
}

export interface VerifiedSigner {
  /** The signer's subject, one `key=value` per line as node:crypto prints it. */
  subject: string;
  /** SHA-256 of the certificate's DER, colon-separated upper-case hex as node:crypto prints it. */
  fingerprintSha256: string;
}

export type CertificateCheck =
  { ok: true; signer: VerifiedSigner } | { ok: false; reasons: PackageReason[] };

const SIGNATURE_LINE = /^([A-Za-z0-9-]+)\((.*)\)= ?([0-9A-Fa-f]+)\r?$/;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const MAX_CHAIN_LENGTH = 8;

/**
 * Checks a certificate file as ovftool writes it: `SHA256(<name>.mf)= <hex signature>` over the
 * manifest's bytes, then the signer's PEM certificate (and any intermediates after it). The
 * signature must verify with the signer's public key, the signer (and each intermediate) be
 * within its validity dates, and, when trusted CAs are given, the chain end at one of them.
 * Every failed check is a reason.
 */
export function verifyCertificate(
  certificateText: string,
  manifestName: string,
  manifestBytes: Buffer,
  policy: CertificatePolicy,
): CertificateCheck {
  const at = 'certificate';
  const reasons: PackageReason[] = [];
  const firstLine = certificateText.replace(/^\uFEFF/, '').split('\n', 1)[0];
  const match = SIGNATURE_LINE.exec(firstLine);
  const pems = certificateText.match(PEM_BLOCK) ?? [];
  if (!match)
    reasons.push({
      code: 'CERTIFICATE.MALFORMED',
      detail: 'the certificate file does not start with ALGORITHM(<manifest>)= <signature>',
      at,
    });
  if (pems.length === 0)
    reasons.push({
      code: 'CERTIFICATE.MALFORMED',
      detail: 'the certificate file holds no PEM certificate',
      at,
    });
  if (!match || pems.length === 0) return { ok: false, reasons };
  const [, algorithmText, signedName, signatureHex] = match;
  const algorithm = algorithmText.toUpperCase();
  if (!isDigestAlgorithm(algorithm)) {
    reasons.push({
      code: 'CERTIFICATE.MALFORMED',
      detail: `signature algorithm ${algorithmText}; SHA1, SHA256 or SHA512 expected`,
      at,
    });
  }
  if (signedName !== manifestName)
    reasons.push({
      code: 'CERTIFICATE.WRONG_MANIFEST',
      detail: `the certificate signs ${JSON.stringify(signedName)}, the package's manifest is ${JSON.stringify(manifestName)}`,
      at,
    });
  if (signatureHex.length % 2 !== 0)
    reasons.push({
      code: 'CERTIFICATE.MALFORMED',
      detail: 'the signature is an odd number of hex digits',
      at,
    });

  let chain: X509Certificate[];
  try {
    chain = pems.map((pem) => new X509Certificate(pem));
  } catch (error: unknown) {
    reasons.push({
      code: 'CERTIFICATE.MALFORMED',
      detail: `a PEM certificate cannot be read: ${(error as Error).message}`,
      at,
    });
    return { ok: false, reasons };
  }
  const signer = chain[0];

  if (isDigestAlgorithm(algorithm) && signatureHex.length % 2 === 0) {
    let verified = false;
    try {
      verified = verify(
        HASH_NAMES[algorithm],
        manifestBytes,
        signer.publicKey,
        Buffer.from(signatureHex, 'hex'),
      );
    } catch {
      verified = false; // a key type that cannot verify this signature is a bad signature
    }
    if (!verified)
      reasons.push({
        code: 'CERTIFICATE.BAD_SIGNATURE',
        detail: `the signature over ${manifestName} does not verify with the certificate's key`,
        at,
      });
  }

  const instant = policy.validAt ?? new Date();
  for (const certificate of chain) reasons.push(...validityReasons(certificate, instant));

  if (policy.trustedCaPems !== undefined) {
    const trusted = parseTrusted(policy.trustedCaPems, reasons);
    if (!chainsToTrusted(chain, trusted, instant))
      reasons.push({
        code: 'CERTIFICATE.UNTRUSTED',
        detail: `the signer ${oneLine(signer.subject)} does not chain to a trusted certificate authority`,
        at,
      });
  }
  if (reasons.length > 0) return { ok: false, reasons };
  return {
    ok: true,
    signer: { subject: signer.subject, fingerprintSha256: signer.fingerprint256 },
  };
}

function validityReasons(certificate: X509Certificate, instant: Date): PackageReason[] {
  const subject = oneLine(certificate.subject);
  const notBefore = new Date(certificate.validFrom);
  const notAfter = new Date(certificate.validTo);
  if (!(instant >= notBefore))
    return [
      {
        code: 'CERTIFICATE.NOT_YET_VALID',
        detail: `${subject} is valid from ${notBefore.toISOString()}`,
        at: 'certificate',
      },
    ];
  if (!(instant <= notAfter))
    return [
      {
        code: 'CERTIFICATE.EXPIRED',
        detail: `${subject} expired at ${notAfter.toISOString()}`,
        at: 'certificate',
      },
    ];
  return [];
}

function parseTrusted(pems: string[], reasons: PackageReason[]): X509Certificate[] {
  const trusted: X509Certificate[] = [];
  for (const pem of pems) {
    try {
      trusted.push(new X509Certificate(pem));
    } catch (error: unknown) {
      // A configuration fault, but it decides trust: reported rather than skipped.
      reasons.push({
        code: 'CERTIFICATE.BAD_TRUSTED_CA',
        detail: `a trusted CA cannot be read: ${(error as Error).message}`,
      });
    }
  }
  return trusted;
}

/**
 * Walks from the signer through the package's intermediates to a trusted certificate: each link
 * issued and signed by the next, every intermediate a CA. The signer may itself be trusted (a
 * pinned self-signed certificate).
 */
function chainsToTrusted(
  chain: X509Certificate[],
  trusted: X509Certificate[],
  instant: Date,
): boolean {
  const isTrusted = (certificate: X509Certificate): boolean =>
    trusted.some((anchor) => anchor.fingerprint256 === certificate.fingerprint256);
  const issuedBy = (child: X509Certificate, parent: X509Certificate): boolean =>
    child.checkIssued(parent) && child.verify(parent.publicKey);
  let current = chain[0];
  for (let depth = 0; depth < MAX_CHAIN_LENGTH; depth++) {
    if (isTrusted(current)) return true;
    const anchor = trusted.find((candidate) => candidate.ca && issuedBy(current, candidate));
    if (anchor) return validityReasons(anchor, instant).length === 0;
    const next = chain.find(
      (candidate) => candidate !== current && candidate.ca && issuedBy(current, candidate),
    );
    if (!next) return false;
    current = next;
  }
  return false;
}

function oneLine(subject: string): string {
  return subject.split('\n').filter(Boolean).join(', ');
}
