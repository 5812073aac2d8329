/**
 * `thingiq retention set|hold|release|sweep`: through the running gateway's
 * admin API when one runs on this data directory, else on the sinks directly
 * under the data directory's lock (state-path.ts). Either way the action is
 * audited as the local operator, and the sweep never deletes held records.
 */
import { exitCodeFor } from './context.ts';
import type { Command } from 'commander';
import type { Writable } from 'node:stream';
import type { AdminClient } from '../admin/admin-client.ts';
import { loadConfig } from '../config/load.ts';
import { isTiqError } from '../errors.ts';
import { assertValidId } from '../identity/identity.ts';
import { openStorage, type OpenedStorage } from '../gateway/open-storage.ts';
import { viaGatewayOrLocally, type OfflineState } from './state-path.ts';

interface Routes {
  online(client: AdminClient): Promise<string>;
  offline(storage: OpenedStorage, state: OfflineState): Promise<string>;
}

export function registerRetentionCommands(program: Command, io: { stdout: Writable; stderr: Writable }): void {
  const configPath = () => program.opts<{ config?: string }>().config;
  const routed = (routes: () => Routes) => async () => {
    try {
      const r = routes();
      const line = await viaGatewayOrLocally(loadConfig(configPath()).config, {
        online: (client) => r.online(client),
        offline: async (state) => {
          const storage = await openStorage(configPath());
          try { return await r.offline(storage, state); } finally { await storage.close(); }
        },
      });
      io.stdout.write(`${line}\n`);
    } catch (err) {
      const detail = isTiqError(err) && err.detail ? ` ${JSON.stringify(err.detail)}` : '';
      io.stderr.write(`${(err as Error).message}${detail}\n`);
      process.exitCode = exitCodeFor(err);
    }
  };

  const retention = program.command('retention').description('retention rules, legal holds and the sweeper (docs/storage.md)');
  retention.command('set').description('set the retention of a tenant stream (or device group) and re-tag stored records')
    .requiredOption('--tenant <id>', 'tenant').requiredOption('--stream <name>', 'stream').requiredOption('--days <n>', 'days to keep')
    .option('--class <name>', 'retention class name (default <stream>-<days>d)').option('--group <id>', 'only this device group')
    .action((o: { tenant: string; stream: string; days: string; class?: string; group?: string }) => routed(() => {
      assertValidId('--tenant', o.tenant);
      const req = { stream: o.stream, days: Number(o.days), ...(o.class ? { retentionClass: o.class } : {}), ...(o.group ? { deviceGroup: o.group } : {}) };
      const say = (r: { retentionClass: string; retagged: number }) => `${o.tenant}/${o.stream}${o.group ? ` (group ${o.group})` : ''}: ${r.retentionClass}, ${o.days} days; re-tagged ${r.retagged} records`;
      return {
        online: async (c) => say(await c.json('PUT', `/v1/tenants/${o.tenant}/retention/rules`, req) as { retentionClass: string; retagged: number }),
        offline: async (s, state) => say(await state.audited({ action: 'retention.rule.set', tenant: o.tenant }, async () => {
          const result = await s.retention.setRule({ tenantId: o.tenant, ...req });
          return { result, note: `stream=${o.stream} days=${o.days} retagged=${result.retagged}` };
        })),
      };
    })());

  const hold = (o: { tenant: string; device?: string }, held: boolean) => routed(() => {
    assertValidId('--tenant', o.tenant);
    if (o.device !== undefined) assertValidId('--device', o.device);
    const say = (r: { flagged: number }) => `legal hold ${held ? 'set' : 'released'} on ${o.tenant}${o.device ? `/${o.device}` : ''}; ${r.flagged} records updated`;
    return {
      online: async (c) => say(await c.json('PUT', `/v1/tenants/${o.tenant}/legal-holds`, { held, ...(o.device ? { deviceId: o.device } : {}) }) as { flagged: number }),
      offline: async (s, state) => say(await state.audited({ action: 'retention.hold.set', tenant: o.tenant, device: o.device }, async () => {
        const result = await s.retention.setHold({ tenantId: o.tenant, held, ...(o.device ? { deviceId: o.device } : {}) });
        return { result, note: `held=${held} flagged=${result.flagged}` };
      })),
    };
  })();
  retention.command('hold').description('set (or with --off release) a legal hold on a tenant or one device')
    .requiredOption('--tenant <id>', 'tenant').option('--device <id>', 'only this device').option('--off', 'release the hold')
    .action((o: { tenant: string; device?: string; off?: boolean }) => hold(o, !o.off));
  retention.command('release').description('release a legal hold on a tenant or one device')
    .requiredOption('--tenant <id>', 'tenant').option('--device <id>', 'only this device')
    .action((o: { tenant: string; device?: string }) => hold(o, false));

  retention.command('sweep').description('delete expired records that are not held, now')
    .action(() => routed(() => {
      const say = (r: { deleted: number; partitionsDropped: number }) => `deleted ${r.deleted} expired records; dropped ${r.partitionsDropped} partitions`;
      return {
        online: async (c) => say(await c.json('POST', '/v1/retention/sweep') as { deleted: number; partitionsDropped: number }),
        offline: async (s, state) => say(await state.audited({ action: 'retention.sweep' }, async () => {
          // As the gateway at start: holds and rules of the config file (edited while no gateway ran) are
          // applied to the stored flags and tags first, or the sink's sweep would delete records they hold.
          await s.retention.reconcile();
          const result = await s.retention.sweep();
          return { result, note: `deleted=${result.deleted} partitions=${result.partitionsDropped}` };
        })),
      };
    })());
}
