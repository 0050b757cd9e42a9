import { HostRegisteredData } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';

const { hostId: _hostId, ...hostFields } = HostRegisteredData.properties;
export const RegisterHostRequest = Type.Object(hostFields, {
  additionalProperties: false,
  description: 'A compute host to add.',
});
export type RegisterHostRequest = Static<typeof RegisterHostRequest>;
