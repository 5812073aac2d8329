/**
 * Where a state-changing CLI command goes. When a gateway runs on this data
 * directory, through its admin API as the local operator (the lock file says
 * where it listens), so the gateway applies the change at once and audits it
 * like any API call. When none runs, the command works on the state directly
 * under the data directory's lock, and audits itself with the same actor.
 * A gateway without its admin API, or another command working offline,
 * refuses the command with TIQ_ERR_DATA_DIR_LOCKED.
 */
import { resolve } from 'node:path';
import { AdminClient } from '../admin/admin-client.ts';
import { auditDirOf, AuditLog } from '../audit/audit-log.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import { clusterAuditTrail } from '../cluster/cluster-state.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { toTiqError } from '../errors.ts';
import { DataDirLock, lockedError, readLockHolder } from '../instance/data-dir-lock.ts';
import { LOCAL_OPERATOR_ACTOR } from '../instance/local-operator.ts';

/** What an offline command records: the API's audit verb and target, so both paths read the same in the log. */
export interface OfflineAction {
  readonly action: string;
  readonly tenant?: string | undefined;
  readonly device?: string | undefined;
  /** Target when not a tenant or device, e.g. `certificate:<serial>`. */
  readonly target?: string | undefined;
}

export interface OfflineState {
  readonly dataDir: string;
  /** Runs `work` and appends its audit entry (ok, denied or failed with the error code); rethrows failures. */
  audited<T>(what: OfflineAction, work: () => Promise<{ result: T; note?: string }>): Promise<T>;
}

export interface StateRoutes<T> {
  online(client: AdminClient): Promise<T>;
  offline(state: OfflineState): Promise<T>;
}

/** The admin client of the gateway running on `dataDir`, or undefined when none runs (throws when one runs unreachable). */
export function runningGatewayClient(dataDir: string): AdminClient | undefined {
  const holder = readLockHolder(dataDir);
  if (holder === undefined) return undefined;
  if (holder === 'unknown' || holder.holder !== 'gateway' || !holder.admin) throw lockedError(holder, dataDir);
  const a = holder.admin;
  return new AdminClient({ url: a.url, caFile: a.caFile, certFile: a.certFile, keyFile: a.keyFile, servername: a.servername });
}

export async function viaGatewayOrLocally<T>(config: GatewayConfig, routes: StateRoutes<T>): Promise<T> {
  const dataDir = resolve(config.dataDir);
  const client = runningGatewayClient(dataDir);
  if (client) return routes.online(client);
  const lock = DataDirLock.acquire(dataDir, 'cli');
  const state = offlineState(config, dataDir);
  try {
    return await routes.offline(state);
  } finally {
    await state.close();
    lock.release();
  }
}

/**
 * A command that reads personal data directly (no lock, a gateway may run):
 * its intent is on record before any of it is read, so an audit log that
 * cannot be written stops it (TIQ_ERR_AUDIT) before any record leaves, then
 * its outcome. Detail `local`: it did not go through a gateway.
 */
export async function auditedRead<T>(config: GatewayConfig, what: OfflineAction, work: () => Promise<{ result: T; note?: string }>): Promise<T> {
  const dataDir = resolve(config.dataDir);
  const trail: AuditTrail = await clusterAuditTrail(config) ?? new AuditLog(auditDirOf(dataDir));
  try {
    const target = what.target ?? (what.tenant && what.device ? `device:${trail.pseudonyms.device(what.tenant, what.device)}` : what.tenant ? `tenant:${what.tenant}` : '-');
    const entry = { actor: LOCAL_OPERATOR_ACTOR, role: 'operator', action: what.action, target, tenant: what.tenant ?? '' };
    await trail.commit({ ...entry, result: 'started', detail: 'local' });
    try {
      const { result, note } = await work();
      await trail.commit({ ...entry, result: 'ok', detail: ['local', note].filter(Boolean).join(' ') });
      return result;
    } catch (err) {
      await trail.commit({ ...entry, result: 'failed', detail: `local ${toTiqError(err).code}` });
      throw err;
    }
  } finally {
    await trail.close?.();
  }
}

/**
 * Offline actions are audited where the gateway audits: the data
 * directory's log, or in cluster mode the one chain every node appends to
 * (an offline action on one node must not leave the shared chain).
 */
function offlineState(config: GatewayConfig, dataDir: string): OfflineState & { close(): Promise<void> } {
  let opened: Promise<AuditTrail> | undefined;
  const audit = (): Promise<AuditTrail> => (opened ??= clusterAuditTrail(config).then((chain) => chain ?? new AuditLog(auditDirOf(dataDir))));
  return {
    dataDir,
    async audited(what, work) {
      const trail = await audit();
      const target = what.target ?? (what.tenant && what.device ? `device:${trail.pseudonyms.device(what.tenant, what.device)}` : what.tenant ? `tenant:${what.tenant}` : '-');
      const entry = { actor: LOCAL_OPERATOR_ACTOR, role: 'operator', action: what.action, target, tenant: what.tenant ?? '' };
      try {
        const { result, note } = await work();
        await trail.commit({ ...entry, result: 'ok', detail: ['offline', note].filter(Boolean).join(' ') });
        return result;
      } catch (err) {
        const e = toTiqError(err);
        // As the API records it: refusals of access are "denied", every other failure "failed".
        const denied = e.httpStatus === 401 || e.httpStatus === 403 || e.httpStatus === 404;
        await trail.commit({ ...entry, result: denied ? 'denied' : 'failed', detail: `offline ${e.code}` });
        throw err;
      }
    },
    async close() {
      if (opened) await (await opened).close?.();
    },
  };
}
