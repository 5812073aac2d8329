/**
 * `thingiq keys ...`: rotate, rewrap, status and shred a tenant's keys.
 * The commands need the data-key store (the storage sink); the CLI entry
 * passes a factory for it, so this file never picks a sink itself.
 */
import type { KMSClientConfig } from '@aws-sdk/client-kms';
import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../config/load.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { TiqError, toTiqError } from '../errors.ts';
import { assertValidId } from '../identity/identity.ts';
import { shredDevice, writeShredReceipt, type ShredReceipt } from '../keys/crypto-shred.ts';
import { openKeyContext, type KeyContext } from '../keys/key-context.ts';
import { clusterKeyOptions, offlineVaultJoin } from '../cluster/cluster-state.ts';
import { deviceVaultPath } from '../keys/key-store-paths.ts';
import type { DataKeyStore } from '../keys/key-provider.ts';
import { rewrapTenantKeys, rotateTenantKey, tenantKeyStatus, type KekStatus, type TenantKeyStatus } from '../keys/key-rotation.ts';
import type { RotateResult } from '../keys/key-provider.ts';
import { keyStatusWithRecords, rotateAndRecord } from '../admin/admin-adapters.ts';
import type { ControlStore } from '../control/control-store.ts';
import type { WithRecord } from '../control/kek-versions.ts';
import { LOCAL_OPERATOR_ACTOR } from '../instance/local-operator.ts';
import { exitCodeFor } from './context.ts';
import type { AdminClient } from '../admin/admin-client.ts';
import { viaGatewayOrLocally, type OfflineState } from './state-path.ts';

export interface OpenedDataKeyStore {
  readonly store: DataKeyStore;
  /** Whether a legal hold covers the device (stored holds and config): shred is refused then. */
  isHeld(tenantId: string, deviceId: string): Promise<boolean>;
  close(): Promise<void>;
}

type Opts = Record<string, string | boolean | undefined>;

/** A keys command that changes state: through the running gateway's admin API, else on the keys directly, audited. */
interface RoutedKeysAction {
  online(client: AdminClient, config: GatewayConfig, opts: Opts): Promise<void>;
  offline(ctx: KeyContext, opened: OpenedDataKeyStore, config: GatewayConfig, opts: Opts, state: OfflineState): Promise<void>;
}

export interface KeysCommandDeps {
  /** Opens the configured storage sink (it implements DataKeyStore). */
  readonly openDataKeyStore: (config: GatewayConfig) => Promise<OpenedDataKeyStore>;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly out?: (text: string) => void;
  readonly err?: (text: string) => void;
  readonly now?: () => number;
  readonly kmsClientConfig?: KMSClientConfig;
  /** Opens the control store for one piece of work: KEK rotations are recorded there, `keys status` reads it. */
  readonly withControl?: <T>(config: GatewayConfig, work: (store: ControlStore) => Promise<T>) => Promise<T>;
  /** Records the shred in the control store, so a running gateway evicts the device's cached keys. */
  readonly recordShred?: (config: GatewayConfig, receipt: ShredReceipt) => Promise<void>;
}

async function unwiredStore(): Promise<OpenedDataKeyStore> {
  throw new TiqError('TIQ_ERR_CONFIG', { problems: ['the keys commands have no data-key store: the CLI entry must pass openDataKeyStore'] });
}

export function registerKeysCommands(program: Command, partialDeps: Partial<KeysCommandDeps> = {}): void {
  const deps: KeysCommandDeps = { ...partialDeps, openDataKeyStore: partialDeps.openDataKeyStore ?? unwiredStore };
  const keys = program.command('keys').description('manage tenant keys: rotate, rewrap, status, shred');
  const run = (action: (ctx: KeyContext, config: GatewayConfig, opts: Record<string, string | boolean | undefined>) => Promise<void>) =>
    async (_opts: unknown, cmd: Command) => runWithContext(deps, cmd, action);
  const routed = (a: RoutedKeysAction) => async (_opts: unknown, cmd: Command) => runRouted(deps, cmd, a);

  keys.command('rotate').description('make a new key version primary for new data keys')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .action(routed({
      online: async (c, _config, opts) => writeOut(deps, JSON.stringify(await c.json('POST', `/v1/tenants/${tenantOf(opts)}/keys/rotate`))),
      offline: async (ctx, _o, config, opts, state) => {
        const tenantId = tenantOf(opts);
        // The new primary goes to the control store too: every gateway sharing it wraps new data keys under it at once.
        const rotate = (): Promise<RotateResult> => (deps.withControl
          ? deps.withControl(config, (store) => rotateAndRecord(ctx, store, tenantId, LOCAL_OPERATOR_ACTOR))
          : rotateTenantKey(ctx, tenantId));
        const result = await state.audited({ action: 'keys.rotate', tenant: tenantId }, async () => ({ result: await rotate() }));
        writeOut(deps, JSON.stringify(result));
      },
    }));

  keys.command('rewrap').description('re-wrap stored data keys under the primary key (resumable)')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--after <dekId>', 'resume after this data key id (the cursor printed by an earlier run)')
    .option('--all', 'also re-wrap data keys already under the primary reference (after KMS-side rotation)')
    .action(routed({
      online: async (c, _config, opts) => {
        const body = { ...(typeof opts.after === 'string' ? { afterDekId: opts.after } : {}), ...(opts.all === true ? { all: true } : {}) };
        writeOut(deps, JSON.stringify(await c.json('POST', `/v1/tenants/${tenantOf(opts)}/keys/rewrap`, body)));
      },
      offline: async (ctx, _o, _config, opts, state) => {
        const tenantId = tenantOf(opts);
        const result = await state.audited({ action: 'keys.rewrap', tenant: tenantId }, async () => ({
          result: await rewrapTenantKeys(ctx, tenantId, {
            afterDekId: typeof opts.after === 'string' ? opts.after : undefined,
            all: opts.all === true,
            onProgress: (p) => writeErr(deps, `rewrap ${tenantId}: scanned ${p.scanned}, rewrapped ${p.rewrapped}, skipped ${p.skipped}, cursor ${p.cursor ?? '-'}`),
          }),
        }));
        writeOut(deps, JSON.stringify(result));
      },
    }));

  keys.command('status').description('key versions, their ages and how many data keys each wraps')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--json', 'print JSON')
    .action(run(async (ctx, config, opts) => {
      const tenantId = tenantOf(opts);
      const now = (deps.now ?? Date.now)();
      const status = deps.withControl
        ? await deps.withControl(config, (store) => keyStatusWithRecords(ctx, store, tenantId, now))
        : await tenantKeyStatus({ ...ctx, providerName: ctx.provider.providerFor(tenantId).name }, tenantId, now);
      writeOut(deps, opts.json ? JSON.stringify(status) : formatStatus(status));
    }));

  keys.command('shred').description('destroy a device\'s data keys: its stored records become unreadable (irreversible); refused under a legal hold')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--device <device>', 'device id')
    .option('--actor <name>', 'who asked for it, recorded in the receipt when no gateway runs (default: the OS user); through a running gateway the receipt names the local operator')
    .option('--receipt <file>', 'where to write the receipt (default: <dataDir>/receipts/...)')
    .option('--yes', 'confirm: this cannot be undone')
    .action(routed({
      online: async (c, config, opts) => {
        const { tenantId, deviceId } = shredTarget(opts);
        const receipt = await c.json('POST', `/v1/tenants/${tenantId}/devices/${deviceId}/keys/shred`) as unknown as ShredReceipt;
        saveReceipt(deps, config, opts, receipt);
      },
      offline: async (ctx, opened, config, opts, state) => {
        const { tenantId, deviceId } = shredTarget(opts);
        const receipt = await state.audited({ action: 'keys.shred', tenant: tenantId, device: deviceId }, async () => {
          // GDPR Art. 17(3)(e): held data is kept, on this path as through the API.
          if (await opened.isHeld(tenantId, deviceId)) throw new TiqError('TIQ_ERR_LEGAL_HOLD');
          const r = await shredDevice(ctx, { tenantId, deviceId, actor: typeof opts.actor === 'string' ? opts.actor : osUser(deps), ...(deps.now ? { now: deps.now } : {}) });
          // The tombstone in the control store: every gateway evicts the device's keys, a restore re-applies it.
          await deps.recordShred?.(config, r);
          return { result: r, note: `receipt=${r.receiptId} destroyed=${r.destroyedCount}` };
        });
        saveReceipt(deps, config, opts, receipt);
      },
    }));
}

function shredTarget(opts: Opts): { tenantId: string; deviceId: string } {
  const deviceId = String(opts.device);
  assertValidId('device', deviceId);
  if (opts.yes !== true) throw new TiqError('TIQ_ERR_USAGE', { problems: ['keys shred is irreversible: add --yes to confirm'] });
  return { tenantId: tenantOf(opts), deviceId };
}

function saveReceipt(deps: KeysCommandDeps, config: GatewayConfig, opts: Opts, receipt: ShredReceipt): void {
  const file = typeof opts.receipt === 'string' ? resolve(opts.receipt)
    : join(resolve(config.dataDir), 'receipts', `shred-${receipt.tenantId}-${receipt.deviceId}-${receipt.destroyedAt.replace(/[:.]/g, '')}.json`);
  writeShredReceipt(file, receipt);
  writeErr(deps, `destroyed ${receipt.destroyedCount} data key(s) of ${receipt.tenantId}/${receipt.deviceId}; receipt ${file}`);
  writeOut(deps, JSON.stringify(receipt));
}

/** Loads the config and checks the command's tenant is configured. */
function configForTenant(opts: Opts): GatewayConfig {
  const { config } = loadConfig(typeof opts.config === 'string' ? opts.config : undefined);
  const tenantId = tenantOf(opts);
  assertValidId('tenant', tenantId);
  if (!config.tenants[tenantId]) throw new TiqError('TIQ_ERR_TENANT_UNKNOWN', `tenant ${tenantId} is not configured`);
  return config;
}

/** Opens the data-key store and the key context for one piece of work, closing both in order. */
async function withKeyContext(deps: KeysCommandDeps, config: GatewayConfig, work: (ctx: KeyContext, opened: OpenedDataKeyStore) => Promise<void>): Promise<void> {
  const opened = await deps.openDataKeyStore(config);
  try {
    const ctx = await openKeyContext(config, opened.store, { env: deps.env ?? process.env, ...(deps.now ? { now: deps.now } : {}), ...(deps.kmsClientConfig ? { kmsClientConfig: deps.kmsClientConfig } : {}), ...await clusterKeyOptions(config, offlineVaultJoin(config, deviceVaultPath(config))) });
    try { await work(ctx, opened); } finally { await ctx.close(); }
  } finally {
    await opened.close();
  }
}

/** One line on stderr and the documented exit code; never a stack trace. */
async function reported(deps: KeysCommandDeps, cmd: Command, work: (opts: Opts) => Promise<void>): Promise<void> {
  try {
    await work(cmd.optsWithGlobals<Opts>());
  } catch (err) {
    const e = toTiqError(err);
    writeErr(deps, `thingiq keys ${cmd.name()}: ${e.message}${e.detail ? ` ${JSON.stringify(e.detail)}` : ''}`);
    process.exitCode = exitCodeFor(e);
  }
}

async function runWithContext(deps: KeysCommandDeps, cmd: Command, action: (ctx: KeyContext, config: GatewayConfig, opts: Opts) => Promise<void>): Promise<void> {
  await reported(deps, cmd, async (opts) => {
    const config = configForTenant(opts);
    await withKeyContext(deps, config, (ctx) => action(ctx, config, opts));
  });
}

async function runRouted(deps: KeysCommandDeps, cmd: Command, a: RoutedKeysAction): Promise<void> {
  await reported(deps, cmd, async (opts) => {
    const config = configForTenant(opts);
    await viaGatewayOrLocally(config, {
      online: (client) => a.online(client, config, opts),
      offline: (state) => withKeyContext(deps, config, (ctx, opened) => a.offline(ctx, opened, config, opts, state)),
    });
  });
}

function tenantOf(opts: Opts): string {
  return String(opts.tenant);
}

function formatStatus(status: TenantKeyStatus): string {
  const lines = [`tenant ${status.tenantId} (provider ${status.provider}): ${status.totalDataKeys} data key(s), ${status.deviceWrappedDataKeys} of them under ${status.totalDeviceKeks} device key(s)`];
  for (const k of status.keks) {
    const age = k.ageMs === undefined ? 'age unknown' : `age ${formatAge(k.ageMs)}`;
    const recorded = (k as WithRecord<KekStatus>).recorded;
    const by = recorded ? `  recorded ${new Date(recorded.createdAtMs).toISOString()} by ${recorded.actor}${recorded.primary ? ' (primary)' : ''}` : '';
    lines.push(`  ${k.primary ? '*' : ' '} ${k.kekRef}  ${age}  ${k.dataKeys} data key(s)  ${k.deviceKeks} device key(s)${by}`);
  }
  return lines.join('\n');
}

function formatAge(ms: number): string {
  const days = Math.floor(ms / 86_400_000);
  return days > 0 ? `${days}d` : `${Math.floor(ms / 3_600_000)}h`;
}

function osUser(deps: KeysCommandDeps): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (some containers): fall back to the login variables.
    const env = deps.env ?? process.env;
    return env.USER ?? env.LOGNAME ?? 'unknown';
  }
}

function writeOut(deps: KeysCommandDeps, text: string): void {
  (deps.out ?? ((t) => process.stdout.write(`${t}\n`)))(text);
}

function writeErr(deps: KeysCommandDeps, text: string): void {
  (deps.err ?? ((t) => process.stderr.write(`${t}\n`)))(text);
}
