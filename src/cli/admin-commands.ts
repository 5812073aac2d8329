/**
 * `thingiq admin ...`: the admin API from the command line, against a
 * running gateway, with an operator certificate (mTLS port) or a token.
 * Without --url and credentials, the gateway running on this data directory,
 * as the local operator (its lock file says where).
 *
 *   thingiq admin --url https://localhost:8444 --ca certs/ca.crt \
 *     --cert olga.crt --key olga.key devices list --tenant acme
 */
import type { Command } from 'commander';
import { createWriteStream, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { once } from 'node:events';
import { AdminClient } from '../admin/admin-client.ts';
import { TiqError } from '../errors.ts';
import { assertValidId } from '../identity/identity.ts';
import { resolve } from 'node:path';
import { action, cliConfig, printTable } from './context.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { LOCAL_OPERATOR_ACTOR } from '../instance/local-operator.ts';
import { createPrivateModeRegistry } from '../privacy/private-mode.ts';
import { withControlStore } from './control-access.ts';
import { runningGatewayClient, viaGatewayOrLocally, type OfflineState } from './state-path.ts';

export interface AdminCommandDeps {
  readonly out?: (text: string) => void;
}

type Opts = Record<string, string | boolean | undefined>;

function clientOf(cmd: Command): { client: AdminClient; json: boolean } {
  const g = cmd.optsWithGlobals<{ url: string; ca?: string; cert?: string; key?: string; token?: string; json?: boolean }>();
  if (usesLocalGateway(cmd)) {
    // No credentials given: the gateway running on this data directory, as the local operator.
    const dataDir = resolve(cliConfig(cmd).config.dataDir);
    const local = runningGatewayClient(dataDir);
    if (local) return { client: local, json: g.json === true };
    throw new TiqError('TIQ_ERR_UNREACHABLE', { problems: [`no gateway runs on ${dataDir}: give --url and --ca (with --cert and --key, or --token) to reach another`] });
  }
  if (!g.ca) throw new TiqError('TIQ_ERR_USAGE', { problems: ['--ca: the gateway CA certificate is required (verification is never turned off)'] });
  const token = g.token ?? process.env['THINGIQ_ADMIN_TOKEN'];
  return { client: new AdminClient({ url: g.url, caFile: g.ca, certFile: g.cert, keyFile: g.key, token }), json: g.json === true };
}

/** No credentials and the default URL: the gateway running on this data directory, or none. */
function usesLocalGateway(cmd: Command): boolean {
  const g = cmd.optsWithGlobals<{ ca?: string; cert?: string; token?: string }>();
  return !g.ca && !g.token && !g.cert && urlIsDefault(cmd);
}

/** No gateway runs: the toggle goes to the control store under the data-directory lock, audited like the API route. */
async function setPrivateModeOffline(config: GatewayConfig, state: OfflineState, t: string, d: string, on: boolean): Promise<Record<string, unknown>> {
  return state.audited({ action: 'devices.private-mode.set', tenant: t, device: d }, () => withControlStore(config, async (store) => {
    const changed = await createPrivateModeRegistry(store).set(t, d, on, LOCAL_OPERATOR_ACTOR, 'cli');
    return { result: { on, changed }, note: `on=${on} changed=${changed}` };
  }));
}

function urlIsDefault(cmd: Command): boolean {
  let c: Command | null = cmd;
  while (c && c.name() !== 'admin') c = c.parent;
  return !c || c.getOptionValueSource('url') === 'default';
}

function ids(o: Opts, withDevice = true): { t: string; d: string } {
  const t = String(o['tenant']);
  assertValidId('tenant', t);
  const d = withDevice ? String(o['device']) : '';
  if (withDevice) assertValidId('device', d);
  return { t, d };
}

export function registerAdminCommands(program: Command, deps: AdminCommandDeps = {}): void {
  const out = deps.out ?? ((t: string) => process.stdout.write(t));
  const show = (json: boolean, value: Record<string, unknown>, rows?: Record<string, unknown>[]) => {
    if (json || !rows) out(`${JSON.stringify(value, null, json ? 0 : 2)}\n`);
    else printTable(rows);
  };
  const admin = program.command('admin').description('the admin API of a running gateway')
    .option('--url <url>', 'admin API base URL (8444: certificates, 8443: tokens)', 'https://localhost:8444')
    .option('--ca <file>', 'CA certificate that signed the gateway\'s server certificate')
    .option('--cert <file>', 'operator or app certificate').option('--key <file>', 'its private key')
    .option('--token <jwt>', 'bearer token (or THINGIQ_ADMIN_TOKEN)')
    .option('--json', 'print JSON');
  const run = (fn: (c: AdminClient, json: boolean, o: Opts) => Promise<void>) =>
    action(async (o: Opts, cmd: Command) => {
      const { client, json } = clientOf(cmd);
      await fn(client, json, o);
    });

  admin.command('tenants').description('list tenants').action(run(async (c, json) => {
    const r = await c.json('GET', '/v1/tenants');
    show(json, r, r['tenants'] as Record<string, unknown>[]);
  }));

  const devices = admin.command('devices').description('devices and their certificates');
  devices.command('list').requiredOption('--tenant <tenant>').action(run(async (c, json, o) => {
    const r = await c.json('GET', `/v1/tenants/${ids(o, false).t}/devices`);
    const rows = (r['devices'] as { deviceId: string; certificates: { serial: string; status: string; notAfter: string }[]; restriction: string; privateMode: boolean }[])
      .flatMap((d) => d.certificates.map((x) => ({ device: d.deviceId, serial: x.serial, status: x.status, notAfter: x.notAfter, restriction: d.restriction, privateMode: d.privateMode })));
    show(json, r, rows);
  }));
  devices.command('issue').description('issue a certificate from a CSR (PEM file), or generate a key pair')
    .requiredOption('--tenant <tenant>').requiredOption('--device <device>').option('--csr <file>').option('--days <n>')
    .action(run(async (c, json, o) => {
      const { t, d } = ids(o);
      const body = { ...(typeof o['csr'] === 'string' ? { csr: readFileSync(o['csr'], 'utf8') } : {}), ...(typeof o['days'] === 'string' ? { days: Number(o['days']) } : {}) };
      const r = await c.json('POST', `/v1/tenants/${t}/devices/${d}/certificates`, body);
      show(json, r);
    }));
  devices.command('revoke').description('revoke a device\'s certificates (all active ones, or --serial)')
    .requiredOption('--tenant <tenant>').requiredOption('--device <device>').option('--serial <hex>')
    .action(run(async (c, json, o) => {
      const { t, d } = ids(o);
      const r = await c.json('POST', `/v1/tenants/${t}/devices/${d}/revoke`, typeof o['serial'] === 'string' ? { serial: o['serial'] } : {});
      show(json, r, (r['revoked'] as string[]).map((serial) => ({ revoked: serial })));
    }));
  devices.command('restrict').description('restrict processing: drop (connected, nothing kept), refuse (disconnected), none (lift)')
    .requiredOption('--tenant <tenant>').requiredOption('--device <device>').requiredOption('--mode <mode>').option('--reason <text>')
    .action(run(async (c, json, o) => {
      const { t, d } = ids(o);
      const r = await c.json('PUT', `/v1/tenants/${t}/devices/${d}/restriction`, { mode: o['mode'], ...(typeof o['reason'] === 'string' ? { reason: o['reason'] } : {}) });
      show(json, r, [r]);
    }));

  const subject = admin.command('subject').description('data-subject requests');
  subject.command('access').description('export the device\'s records as NDJSON (to --out, else stdout)')
    .requiredOption('--tenant <tenant>').requiredOption('--device <device>').option('--out <file>')
    .action(run(async (c, _json, o) => {
      const { t, d } = ids(o);
      const target = typeof o['out'] === 'string' ? createWriteStream(o['out'], { mode: 0o600 }) : process.stdout;
      await c.stream('GET', `/v1/tenants/${t}/devices/${d}/data`, target);
      if (target !== process.stdout) {
        target.end();
        await once(target, 'finish');
      }
    }));
  subject.command('erase').description('erase the device\'s records and shred its keys (irreversible); prints the receipt')
    .requiredOption('--tenant <tenant>').requiredOption('--device <device>').option('--yes', 'confirm: this cannot be undone')
    .action(run(async (c, _json, o) => {
      const { t, d } = ids(o);
      if (o['yes'] !== true) throw new TiqError('TIQ_ERR_USAGE', { problems: ['erasure is irreversible: add --yes to confirm'] });
      out(`${JSON.stringify(await c.json('POST', `/v1/tenants/${t}/devices/${d}/erasure`), null, 2)}\n`);
    }));

  const privateMode = admin.command('private-mode').description('switch a device\'s private mode (recorded with the operator as actor; offline on the control store when no gateway runs)');
  for (const state of ['on', 'off'] as const) {
    privateMode.command(state).requiredOption('--tenant <tenant>').requiredOption('--device <device>')
      .action(action(async (o: Opts, cmd: Command) => {
        const { t, d } = ids(o);
        const body = { on: state === 'on' };
        const json = cmd.optsWithGlobals<{ json?: boolean }>().json === true;
        const r = usesLocalGateway(cmd)
          ? await viaGatewayOrLocally(cliConfig(cmd).config, {
            online: (c) => c.json('PUT', `/v1/tenants/${t}/devices/${d}/private-mode`, body),
            offline: (st) => setPrivateModeOffline(cliConfig(cmd).config, st, t, d, body.on),
          })
          : await clientOf(cmd).client.json('PUT', `/v1/tenants/${t}/devices/${d}/private-mode`, body);
        show(json, r, [r]);
      }));
  }

  admin.command('policy-put').description('replace a tenant\'s privacy policy (YAML or JSON file; validated, effective on the next message)')
    .requiredOption('--tenant <tenant>').requiredOption('--file <file>')
    .action(run(async (c, json, o) => {
      const { t } = ids(o, false);
      const policy = parseYaml(readFileSync(String(o['file']), 'utf8')) as unknown;
      show(json, await c.json('PUT', `/v1/tenants/${t}/privacy-policy`, { policy }));
    }));

  // Every other resource (apps and grants, device groups, retention, keys, audit): any route of docs/openapi.yaml.
  admin.command('call').description('call any admin API route, e.g. `call PUT /v1/tenants/acme/device-groups/trucks --data \'{"devices":["truck-1"]}\'`')
    .argument('<method>', 'GET, POST, PUT or DELETE').argument('<path>', 'route path, /v1/...')
    .option('--data <json>', 'request body as JSON, or @file')
    .action(action(async (method: string, path: string, o: Opts, cmd: Command) => {
      const { client } = clientOf(cmd);
      const raw = typeof o['data'] === 'string' ? (o['data'].startsWith('@') ? readFileSync(o['data'].slice(1), 'utf8') : o['data']) : undefined;
      const upper = method.toUpperCase();
      if (!['GET', 'POST', 'PUT', 'DELETE'].includes(upper) || !path.startsWith('/')) {
        throw new TiqError('TIQ_ERR_USAGE', { problems: ['usage: call <GET|POST|PUT|DELETE> </path> [--data JSON]'] });
      }
      out(`${JSON.stringify(await client.json(upper, path, raw === undefined ? undefined : JSON.parse(raw)), null, 2)}\n`);
    }));
}
