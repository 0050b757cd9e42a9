import { execFile } from 'node:child_process';
import { join } from 'node:path';

const REPO_ROOT = join(__dirname, '..', '..', '..');
const BUILD_SCRIPT = join(REPO_ROOT, 'tools', 'vcsim-import', 'build.sh');
/** A package's check and import take well under a second; the first build up to a minute. */
const BUILD_TIMEOUT_MS = 170_000;
const IMPORT_TIMEOUT_MS = 120_000;
/** vcsim-import's output is one small JSON object; anything larger is a fault, not a VM. */
const MAX_OUTPUT_BYTES = 4 << 20;

/** A SCSI controller as vcsim built it (`type` is govmomi's name: `lsilogic`, `pvscsi`, ...). */
export interface VcsimController {
  key: number;
  type: string;
  busNumber: number;
}

export interface VcsimDisk {
  label: string;
  capacityBytes: number;
  /** The type of the controller the disk hangs on, as in {@link VcsimController.type}. */
  controllerType: string;
  unitNumber: number;
  /** Datastore path, `[LocalDS_0] <name>/disk-0.vmdk`. */
  fileName: string;
}

export interface VcsimNic {
  label: string;
  /** The vSphere class in lower case: `e1000`, `e1000e`, `vmxnet3`. */
  type: string;
  /** The vcsim network it is attached to, by name. */
  network: string;
  /** vcsim 0.24 ignores the descriptor's `rasd:Address` and generates one (`00:0c:29:...`). */
  macAddress?: string;
  addressType?: string;
}

/** The VM vcsim built from an OVA, read back from its configuration. */
export interface VcsimVm {
  name: string;
  numCPU: number;
  numCoresPerSocket: number;
  memoryMB: number;
  /** `vmx-NN`. */
  hardwareVersion: string;
  guestId: string;
  controllers: VcsimController[];
  disks: VcsimDisk[];
  nics: VcsimNic[];
  /** The files sent through the NFC lease, with their sizes (vcsim discards the bytes). */
  uploads: { path: string; bytes: number }[];
}

export interface VcsimImportOptions {
  /** Descriptor network name → vcsim network name (`VM Network`, `DC0_DVPG0`). */
  networkMap?: Record<string, string>;
}

/** vcsim-import refused the package or failed; `stderr` holds every reason, one per line. */
export class VcsimImportError extends Error {
  constructor(
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`vcsim-import failed (exit ${exitCode ?? 'signal'}):\n${stderr.trim()}`);
    this.name = 'VcsimImportError';
  }
}

function runFile(
  file: string,
  args: string[],
  timeout: number,
): Promise<{ stdout: string; stderr: string; exitCode: number | null }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout, maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const exitCode = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        // A spawn failure (ENOENT, EACCES) has no stderr of its own: its message is the reason.
        resolve({ stdout, stderr: stderr || (error?.message ?? ''), exitCode });
      },
    );
  });
}

let built: Promise<string> | undefined;

/** Builds the program once per process (the script itself skips a build that is up to date). */
export function buildVcsimImport(): Promise<string> {
  built ??= runFile(BUILD_SCRIPT, [], BUILD_TIMEOUT_MS).then(({ stdout, stderr, exitCode }) => {
    if (exitCode !== 0) {
      built = undefined;
      throw new VcsimImportError(exitCode, `building tools/vcsim-import: ${stderr}`);
    }
    return stdout.trim();
  });
  return built;
}

/**
 * Imports the OVA into a fresh in-process vSphere simulator the way `govc import.ova` does and
 * returns the VM it built. Throws {@link VcsimImportError} with every reason when the package is
 * refused (by vcsim, or by the program's own checks that vcsim lacks) or the import fails.
 */
export async function importIntoVcsim(
  ovaPath: string,
  name: string,
  options: VcsimImportOptions = {},
): Promise<VcsimVm> {
  const binary = await buildVcsimImport();
  const args = ['-ova', ovaPath, '-name', name];
  for (const [source, target] of Object.entries(options.networkMap ?? {}))
    args.push('-network-map', `${source}=${target}`);
  const { stdout, stderr, exitCode } = await runFile(binary, args, IMPORT_TIMEOUT_MS);
  if (exitCode !== 0) throw new VcsimImportError(exitCode, stderr);
  try {
    return JSON.parse(stdout) as VcsimVm;
  } catch (error) {
    throw new VcsimImportError(exitCode, `output is not JSON (${String(error)}):\n${stdout}`);
  }
}
