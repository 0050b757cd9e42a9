import { IMPORT_DISK_FORMATS, InventoryName, StringEnum, Uuid } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';

export type ImportDiskFormat = (typeof IMPORT_DISK_FORMATS)[number];

/** OVF names (networks, properties, options) are short; the bound keeps a hostile map small. */
const OvfName = (description: string) => Type.String({ minLength: 1, maxLength: 255, description });

/** Where the package goes and what the caller chose among what it offers (vSphere's Deploy OVF Template wizard). */
export const importTargetFields = {
  hostId: Uuid('Host the VM is registered on.'),
  datastoreId: Uuid('Datastore its disks are written to.'),
  folder: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^/',
      description: 'Inventory folder; default: /.',
    }),
  ),
  name: InventoryName('Name of the new VM or template.'),
  role: Type.Optional({
    ...StringEnum(['vm', 'template'] as const, 'Import as a VM or as a template.'),
    default: 'vm',
  }),
  diskFormat: Type.Optional({
    ...StringEnum(
      IMPORT_DISK_FORMATS,
      'Disk format of the imported disks; as-in-package: thin for sparse, streamOptimized and qcow2 images, thick-lazy-zeroed for flat and raw ones.',
    ),
    default: 'as-in-package',
  }),
  networkMapping: Type.Optional(
    Type.Record(
      Type.String({ minLength: 1, maxLength: 255 }),
      Type.String({ minLength: 1, maxLength: 80 }),
      {
        maxProperties: 64,
        description:
          'Port group for each network the package names ({ "VM Network": "pg-web" }); a NIC on a network with no mapping keeps its name.',
      },
    ),
  ),
  deploymentOption: Type.Optional(
    OvfName('A configuration of the DeploymentOptionSection; default: the package’s default.'),
  ),
  properties: Type.Optional(
    Type.Record(Type.String({ minLength: 1, maxLength: 255 }), Type.String({ maxLength: 65_535 }), {
      maxProperties: 256,
      description: 'Values of the package’s user-configurable product properties, by key.',
    }),
  ),
  virtualSystemId: Type.Optional(
    OvfName(
      'The VirtualSystem to import, required when the package holds a collection of several.',
    ),
  ),
  requireCertificate: Type.Optional(
    Type.Boolean({
      default: false,
      description:
        'Refuse the package unless its manifest is signed by a certificate that verifies (always so when the operator requires it).',
    }),
  ),
};

export const ImportTarget = Type.Object(importTargetFields, {
  additionalProperties: false,
  description:
    'Where an uploaded package goes and what is chosen among what it offers: the multipart upload’s spec field, first.',
});
export type ImportTarget = Static<typeof ImportTarget>;

export const ImportFromPathRequest = Type.Object(
  {
    source: Type.Object(
      {
        path: Type.String({
          minLength: 2,
          maxLength: 4096,
          pattern: '^/[^\\u0000]*\\.(ova|ovf)$',
          description:
            'An .ova or .ovf strictly inside one of the import roots (DOLLY_IMPORT_ROOTS), symlinks resolved.',
        }),
      },
      { additionalProperties: false },
    ),
    ...importTargetFields,
  },
  {
    additionalProperties: false,
    description: 'Import a package the workers read from an import root.',
  },
);
export type ImportFromPathRequest = Static<typeof ImportFromPathRequest>;
