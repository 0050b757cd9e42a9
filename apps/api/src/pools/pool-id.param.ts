import { Uuid } from '@dolly/domain';

/** Path parameter `:poolId`, checked before anything is looked up. */
export const PoolIdParam = Uuid('The pool.');
