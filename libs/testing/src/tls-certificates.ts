import { execFile } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Folders in QEMU's and libnbd's x509 layout (`ca-cert.pem`, `server-cert.pem`/`-key.pem`,
 * `client-cert.pem`/`-key.pem`) for TLS tests over 127.0.0.1.
 */
export interface TestCertificates {
  /** For the NBD server: the CA, a server certificate for 127.0.0.1 and localhost, and a client
   * certificate of its own (the worker reads its exports as a client too). */
  serverDir: string;
  /** For a trusted client: the CA and a client certificate it signed. */
  clientDir: string;
  /** For a client the server must refuse under verify-peer: it trusts the server's CA, but its
   * own certificate was signed by another CA. */
  untrustedClientDir: string;
}

async function openssl(...args: string[]): Promise<void> {
  await run('openssl', args);
}

/** A CA: a self-signed certificate that may sign others. */
async function authority(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}-ca-cert.pem`);
  const key = join(dir, `${name}-ca-key.pem`);
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=dolly-test-${name}-ca`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    key,
    '-out',
    cert,
  );
  return { cert, key };
}

/** A leaf certificate signed by `ca`, for a server or a client. */
async function leaf(
  work: string,
  ca: { cert: string; key: string },
  purpose: 'server' | 'client',
  certOut: string,
  keyOut: string,
): Promise<void> {
  const request = join(work, `${basename(dirname(certOut))}-${purpose}.csr`);
  const extensions = `${request}.ext`;
  await openssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    `/CN=dolly-test-${purpose}`,
    '-keyout',
    keyOut,
    '-out',
    request,
  );
  await writeFile(
    extensions,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${purpose === 'server' ? 'serverAuth' : 'clientAuth'}`,
      ...(purpose === 'server' ? ['subjectAltName=IP:127.0.0.1,DNS:localhost'] : []),
    ].join('\n') + '\n',
  );
  await openssl(
    'x509',
    '-req',
    '-days',
    '2',
    '-in',
    request,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-extfile',
    extensions,
    '-out',
    certOut,
  );
}

/** Makes a trusted CA, another CA, and the three folders under `root` (which must exist). */
export async function makeTestCertificates(root: string): Promise<TestCertificates> {
  const work = join(root, 'ca');
  const serverDir = join(root, 'server');
  const clientDir = join(root, 'client');
  const untrustedClientDir = join(root, 'untrusted-client');
  for (const dir of [work, serverDir, clientDir, untrustedClientDir])
    await mkdir(dir, { recursive: true, mode: 0o700 });
  const trusted = await authority(work, 'trusted');
  const other = await authority(work, 'other');
  await leaf(
    work,
    trusted,
    'server',
    join(serverDir, 'server-cert.pem'),
    join(serverDir, 'server-key.pem'),
  );
  await leaf(
    work,
    trusted,
    'client',
    join(serverDir, 'client-cert.pem'),
    join(serverDir, 'client-key.pem'),
  );
  await leaf(
    work,
    trusted,
    'client',
    join(clientDir, 'client-cert.pem'),
    join(clientDir, 'client-key.pem'),
  );
  await leaf(
    work,
    other,
    'client',
    join(untrustedClientDir, 'client-cert.pem'),
    join(untrustedClientDir, 'client-key.pem'),
  );
  for (const dir of [serverDir, clientDir, untrustedClientDir])
    await copyFile(trusted.cert, join(dir, 'ca-cert.pem'));
  return { serverDir, clientDir, untrustedClientDir };
}
