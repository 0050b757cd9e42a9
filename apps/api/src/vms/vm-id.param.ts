import { Uuid } from '@dolly/domain';

/** Path parameter `:vmId`, checked before anything is looked up. */
export const VmIdParam = Uuid('The VM.');
