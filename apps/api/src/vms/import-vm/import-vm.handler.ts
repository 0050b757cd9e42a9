import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import { type DollyConfig } from '@dolly/config';
import {
  DomainError,
  type ErrorReason,
  type ImportSource,
  type Placement,
  RuleViolationError,
  startImport,
  stream,
} from '@dolly/domain';
import { type PackageReason, applyProductProperties, parseDescriptor } from '@dolly/ovf';
import { DOLLY_CONFIG, generateMacAddress } from '@dolly/platform';
import { VmRow } from '@dolly/read-models';
import type { Repository } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { PlacementService } from '../../shared/placement';
import { VmDecisions } from '../vm-operations';
import {
  type ImportIdentity,
  chooseVirtualSystem,
  choiceReasons,
  packageReasonToError,
  planImport,
} from './import-definition';
import type { ImportTarget } from './import-vm.request';
import type { PackageDescriptor } from './package-source';

export class ImportVmCommand extends DollyCommand<{
  target: ImportTarget;
  descriptor: PackageDescriptor;
  source: ImportSource;
}> {}

/** The VM's id, known before deciding: the answer and the upload both name it. */
export interface ImportDecided extends CommandOutcome {
  result: { vmId: string };
}

const refused = (packageName: string, reasons: ErrorReason[]) =>
  new RuleViolationError('IMPORT.REFUSED', `${packageName} cannot be imported as asked`, reasons);

/**
 * vSphere's Deploy OVF Template: the descriptor is checked, the caller's choices against it, the
 * VM it makes built and placed; the domain checks the destination (host, space) and refuses with
 * every reason, the package's included. Nothing is decided unless all of it passes.
 */
@CommandHandler(ImportVmCommand)
export class ImportVmHandler implements ICommandHandler<ImportVmCommand> {
  constructor(
    private readonly decisions: VmDecisions,
    private readonly placement: PlacementService,
    @InjectRepository(VmRow) private readonly vms: Repository<VmRow>,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
  ) {}

  async execute({ execution, data }: ImportVmCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    const { target, descriptor, source } = data;
    const { packageName } = descriptor;
    const parsed = parseDescriptor(descriptor.xml, { deploymentOption: target.deploymentOption });
    if (!parsed.ok) throw refused(packageName, parsed.reasons.map(packageReasonToError));
    const { envelope } = parsed;
    const chosen = chooseVirtualSystem(envelope, target.virtualSystemId);
    const choices = choiceReasons(envelope, target);
    if (!chosen.system) throw refused(packageName, [...chosen.reasons, ...choices]);
    const system = chosen.system;
    const packageReasons: ErrorReason[] = [
      ...choices,
      ...applyProductProperties(system, target.properties ?? {}).map((reason: PackageReason) => ({
        ...packageReasonToError(reason),
        pointer: '/properties',
      })),
    ];
    const placement = await this.placeOrSayWhy(target.datastoreId, packageReasons);
    const macAddressesInUse = await this.macAddressesInUse(
      system.nics.flatMap((nic) => (nic.macAddress ? [nic.macAddress.toLowerCase()] : [])),
    );
    const vmId = uuidv7();
    const biosUuid = uuidv7();
    const diskIds = system.disks.map(() => uuidv7());
    const macs = system.nics.map(() => generateMacAddress());
    // Deciding may run again after a conflict: each run gives the same ids.
    const identity = (): ImportIdentity => {
      let disk = 0;
      let mac = 0;
      return {
        vmId,
        biosUuid,
        newDiskId: () => diskIds[disk++] ?? uuidv7(),
        newMacAddress: () => macs[mac++] ?? generateMacAddress(),
      };
    };
    const outcome = await this.decisions.decideIn(execution, vmId, {
      streams: [
        stream('vm', vmId),
        stream('host', target.hostId),
        stream('datastore', target.datastoreId),
        stream('task', taskId),
      ],
      decide: (ws) => {
        const host = ws.host(target.hostId);
        const plan = planImport({
          envelope,
          system,
          target,
          identity: identity(),
          hostMaxHardwareVersion: host.status === 'registered' ? host.maxHardwareVersion : null,
          macAddressesInUse,
        });
        startImport(ws, {
          definition: plan.definition,
          role: target.role ?? 'vm',
          taskId,
          placement,
          source,
          package: { name: packageName, descriptorSha256: descriptor.sha256 },
          virtualSystemId: plan.virtualSystemId,
          deploymentOption: target.deploymentOption ?? null,
          requireCertificate:
            (target.requireCertificate ?? false) || this.config.importRequireCertificate,
          ovfDiskIds: plan.ovfDiskIds,
          packageReasons: [...packageReasons, ...plan.reasons],
          populatedBytes: plan.populatedBytes,
        });
      },
    });
    return { ...outcome, result: { vmId } } satisfies ImportDecided;
  }

  /**
   * The group serving the datastore; when there is none, why, among the other reasons (the
   * import is refused with all of them). Kafka away is no reason of the package's: it is thrown.
   */
  private async placeOrSayWhy(datastoreId: string, reasons: ErrorReason[]): Promise<Placement> {
    try {
      return await this.placement.forDatastores([datastoreId]);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      reasons.push(
        ...(error.reasons.length > 0
          ? error.reasons
          : [{ code: error.code, detail: error.message }]),
      );
      return { kind: 'group', group: 'none' };
    }
  }

  /** Which of the package's MACs another VM of the inventory has. */
  private async macAddressesInUse(macs: string[]): Promise<Set<string>> {
    if (macs.length === 0) return new Set();
    const rows = await this.vms.query(
      `SELECT DISTINCT nic->>'macAddress' AS mac
         FROM read_model.vms, jsonb_array_elements(state->'nics') AS nic
        WHERE nic->>'macAddress' = ANY($1::text[])`,
      [macs],
    );
    return new Set((rows as { mac: string }[]).map((row) => row.mac));
  }
}
