import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ForbiddenError } from '@dolly/domain';
import type { Request } from 'express';

export const ROLES = ['admin', 'operator', 'auditor', 'host-client'] as const;
export type Role = (typeof ROLES)[number];

/**
 * What each role may do. host-client stands for a caller that speaks to a host directly (VMware
 * Host Client): it may run power operations and see their outcome, nothing of the management
 * plane (no cloning, no inventory changes).
 */
export const PERMISSIONS = {
  'inventory:read': ['admin', 'operator', 'auditor', 'host-client'],
  'inventory:write': ['admin', 'operator'],
  'infrastructure:write': ['admin'],
  /** What check moved aside on a datastore (file names, sizes, the disks that read them): admin only. */
  'datastores:quarantine': ['admin'],
  /** Taking a quarantined layer back into use (checked again first): admin only. */
  'datastores:quarantine:restore': ['admin'],
  'vm:power': ['admin', 'operator', 'host-client'],
  /** Cloning is management-plane work: vCenter clones, a host client cannot. */
  'vm:clone': ['admin', 'operator'],
  'vm:snapshot': ['admin', 'operator'],
  /** Pools make and remove VMs of their own: the same hands that clone. */
  'pools:write': ['admin', 'operator'],
  /** What a connection broker does when users come and go. */
  'desktops:assign': ['admin', 'operator'],
  'tasks:cancel': ['admin', 'operator'],
  'tasks:read': ['admin', 'operator', 'auditor', 'host-client'],
  'audit:read': ['admin', 'operator', 'auditor'],
  /** Walking the whole event chain: a heavy read, for those who answer for the history. */
  'audit:verify': ['admin', 'auditor'],
  'operations:read': ['admin', 'operator', 'auditor'],
  /** Replacing every read model by a rebuild from the history: heavy, and the admin's call. */
  'read-models:rebuild': ['admin'],
  /**
   * Reading and writing a running VM's disks and memory directly, over NBD: its export URIs
   * (with the socket path or the NBD server's address) are shown only to these roles. Others see
   * that the VM is live, where, and which images are exported, never how to reach them.
   */
  'disks:attach': ['admin', 'operator'],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof PERMISSIONS;

export function isAllowed(role: Role, permission: Permission): boolean {
  const allowed: readonly Role[] = PERMISSIONS[permission];
  return allowed.includes(role);
}

export interface Principal {
  /** Name of the token's holder, as the operator configured it; recorded as the actor of events. */
  id: string;
  role: Role;
}

export interface ConfiguredToken {
  token: string;
  role: Role;
  name: string;
}

export class AuthenticationError extends Error {
  readonly code = 'AUTH.UNAUTHENTICATED';
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/**
 * Bearer tokens the operator configured: DOLLY_API_TOKENS (JSON) or DOLLY_API_TOKENS_FILE (a JSON
 * file), each `{ "token": "...", "role": "operator", "name": "ci-bot" }`.
 */
export class TokenBook {
  private readonly byDigest: { digest: Buffer; principal: Principal }[];

  constructor(tokens: readonly ConfiguredToken[]) {
    this.byDigest = tokens.map((t) => ({
      digest: sha256(t.token),
      principal: { id: t.name, role: t.role },
    }));
  }

  static fromEnvironment(env: NodeJS.ProcessEnv = process.env): TokenBook {
    const raw =
      env.DOLLY_API_TOKENS ??
      (env.DOLLY_API_TOKENS_FILE ? readFileSync(env.DOLLY_API_TOKENS_FILE, 'utf8') : undefined);
    if (!raw)
      throw new Error('No API tokens configured: set DOLLY_API_TOKENS or DOLLY_API_TOKENS_FILE');
    const parsed = JSON.parse(raw) as ConfiguredToken[];
    const problems = parsed.flatMap((t, i) => [
      ...(typeof t.token === 'string' && t.token.length >= 16
        ? []
        : [`token ${i}: at least 16 characters`]),
      ...(ROLES.includes(t.role) ? [] : [`token ${i}: role must be one of ${ROLES.join(', ')}`]),
      ...(typeof t.name === 'string' && t.name ? [] : [`token ${i}: needs a name`]),
    ]);
    if (problems.length > 0) throw new Error(`Bad API token configuration: ${problems.join('; ')}`);
    return new TokenBook(parsed);
  }

  /** Compares digests in constant time, so response times reveal nothing of valid tokens. */
  authenticate(token: string): Principal | undefined {
    const digest = sha256(token);
    let found: Principal | undefined;
    for (const entry of this.byDigest)
      if (timingSafeEqual(entry.digest, digest)) found = entry.principal;
    return found;
  }
}

const PERMISSION_KEY = 'dolly:permission';
const PUBLIC_KEY = 'dolly:public';

/** The permission an endpoint needs. Every endpoint names one or is marked @Public(). */
export const Requires = (permission: Permission) => SetMetadata(PERMISSION_KEY, permission);
/** Published contracts and liveness: no credentials needed. */
export const Public = () => SetMetadata(PUBLIC_KEY, true);

export type AuthenticatedRequest = Request & { principal?: Principal };

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenBook,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = request.headers.authorization ?? '';
    const match = /^Bearer ([^\s]+)$/i.exec(header);
    if (!match) throw new AuthenticationError('Send a bearer token: Authorization: Bearer <token>');
    const principal = this.tokens.authenticate(match[1]);
    if (!principal) throw new AuthenticationError('The bearer token is not valid');
    request.principal = principal;
    const permission = this.reflector.getAllAndOverride<Permission>(PERMISSION_KEY, targets);
    // An endpoint that forgot to say what it needs is closed, not open.
    if (!permission)
      throw new ForbiddenError(
        'AUTH.NO_PERMISSION_DECLARED',
        'This endpoint declares no permission',
      );
    if (!isAllowed(principal.role, permission)) {
      const allowed: readonly Role[] = PERMISSIONS[permission];
      throw new ForbiddenError(
        'AUTH.ROLE_NOT_ALLOWED',
        `The ${principal.role} role may not do this (${permission} needs ${allowed.join(' or ')})` +
          (principal.role === 'host-client'
            ? ': a host client runs power operations only, the management plane does the rest'
            : ''),
      );
    }
    return true;
  }
}
