/**
 * Who is calling and what they may do. Roles are ordered: an operator may do
 * what a tenant-admin may, a tenant-admin what a tenant-reader may; only an
 * operator is not bound to one tenant.
 */
import type { Role } from '../config/admin-config.ts';

export interface Principal {
  /** Recorded in the audit log: `operator:<name>`, `app:<tenant>/<app>`, `token:<sub>`. */
  readonly actor: string;
  readonly role: Role;
  /** The one tenant of a tenant-admin or tenant-reader; undefined for operators. */
  readonly tenantId: string | undefined;
  /** 'session': a console session opened with a certificate-issued link or a token (docs/console.md). */
  readonly via: 'certificate' | 'token' | 'session';
  /** The app of an app certificate: its grants (streams, device groups) bound what it may read of stored records. */
  readonly appId?: string | undefined;
}

const RANK: Record<Role, number> = { 'tenant-reader': 1, 'tenant-admin': 2, operator: 3 };

export function roleAtLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

export function strongestRole(roles: readonly string[]): Role | undefined {
  let best: Role | undefined;
  for (const r of roles) {
    if (r in RANK && (best === undefined || RANK[r as Role] > RANK[best])) best = r as Role;
  }
  return best;
}

/** A tenant-scoped principal sees its own tenant only. */
export function canSeeTenant(p: Principal, tenantId: string): boolean {
  return p.role === 'operator' || p.tenantId === tenantId;
}
