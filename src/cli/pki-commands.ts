import type { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminClient } from '../admin/admin-client.ts';
import { TiqError } from '../errors.ts';
import { appUri, assertValidId, deviceUri, type Identity } from '../identity/identity.ts';
import { LOCAL_OPERATOR_ACTOR } from '../instance/local-operator.ts';
import { KEY_TYPES, type KeyType } from '../pki/certificates.ts';
import { newKeyAndCsr } from '../pki/csr-request.ts';
import { IssuanceRegistry } from '../pki/issuance-registry.ts';
import { initPki, issueIdentity, nameOf, pkiPaths } from '../pki/pki-store.ts';
import { writeFileAtomic, writePrivateKey } from '../pki/secure-files.ts';
import { action, cliConfig, pkiDirOf, printTable } from './context.ts';
import { viaGatewayOrLocally } from './state-path.ts';
import { withControlStore } from './control-access.ts';
import { registerSignCsrCommand } from './pki-sign-command.ts';

type Opts = Record<string, string>;

/** `--key-type`: ec (P-256, the default) or rsa (2048). */
export function keyTypeOption(value: string | undefined): KeyType | undefined {
  if (value === undefined) return undefined;
  if (!(KEY_TYPES as readonly string[]).includes(value)) throw new TiqError('TIQ_ERR_USAGE', { problems: [`--key-type: one of ${KEY_TYPES.join(', ')}`] });
  return value as KeyType;
}

/** Where the admin API issues and revokes each kind of identity, and the audit verb both paths record. */
export function apiOf(id: Identity): { base: string; verb: string } {
  switch (id.kind) {
    case 'device': return { base: `/v1/tenants/${id.tenantId}/devices/${id.deviceId}`, verb: 'devices' };
    case 'app': return { base: `/v1/tenants/${id.tenantId}/apps/${id.appId}`, verb: 'apps' };
    case 'operator': return { base: `/v1/operators/${id.operatorName}`, verb: 'operators' };
  }
}

/** Through the gateway: the key pair is made here, only the CSR is sent, and the files are written as offline. */
interface Issued { serial: string; certPath: string; keyPath: string | undefined; caPath: string }

async function issueOnline(c: AdminClient, id: Identity, out: string, days: number | undefined, keyType: KeyType | undefined): Promise<Issued> {
  const name = nameOf(id);
  const { keyPem, csrPem } = newKeyAndCsr(name, keyType);
  const r = await c.json('POST', `${apiOf(id).base}/certificates`, { csr: csrPem, ...(days ? { days } : {}) }) as { serial: string; certPem: string; caPem: string };
  mkdirSync(out, { recursive: true });
  const paths = { certPath: join(out, `${name}.crt`), keyPath: join(out, `${name}.key`), caPath: join(out, 'ca.crt') };
  writeFileAtomic(paths.certPath, r.certPem);
  writePrivateKey(paths.keyPath, keyPem);
  writeFileAtomic(paths.caPath, r.caPem);
  return { serial: r.serial, ...paths };
}

function issueAction(make: (o: Opts) => Identity) {
  return action(async (opts: Opts, cmd: Command) => {
    const loaded = cliConfig(cmd);
    const dir = pkiDirOf(loaded);
    const id = make(opts);
    if (id.kind === 'operator') assertValidId('name', id.operatorName);
    else assertValidId('tenant', id.tenantId);
    assertValidId(id.kind, nameOf(id));
    const out = opts['out'] ?? join(dir, 'clients');
    const days = opts['days'] ? Number(opts['days']) : undefined;
    const keyType = keyTypeOption(opts['keyType']) ?? loaded.config.pkiKeyType;
    const r = await viaGatewayOrLocally<Issued>(loaded.config, {
      online: (c) => issueOnline(c, id, out, days, keyType),
      offline: (state) => state.audited({ action: `${apiOf(id).verb}.issue`, tenant: id.kind === 'operator' ? undefined : id.tenantId, device: id.kind === 'device' ? id.deviceId : undefined, target: id.kind === 'device' ? undefined : `${id.kind}:${nameOf(id)}` }, async () => {
        initPki(dir, loaded.config.mqtt.serverHosts, { keyType: loaded.config.pkiKeyType });
        const issued = issueIdentity(dir, id, out, { ...(days ? { days } : {}), keyType }, false);
        // Recorded in the control store, as the API records it, with the local operator as issuer.
        await withControlStore(loaded.config, (store) => new IssuanceRegistry(pkiPaths(dir).registry, store).record(issued.record, LOCAL_OPERATOR_ACTOR));
        return { result: issued, note: `serial=${issued.serial} generated` };
      }),
    });
    process.stdout.write(`issued ${id.kind} certificate, serial ${r.serial}\n  ${r.certPath}\n  ${r.keyPath} (mode 0600)\n  ${r.caPath}\n`);
  });
}

/** What `pki revoke` names: a device's or an app's certificates (optionally one serial), or any serial. */
function revokeTarget(opts: Opts): { path: string; body: Record<string, string>; verb: string; match: { serial?: string; uri?: string }; tenant?: string; device?: string; target?: string } {
  const serial = opts['serial'];
  if (serial !== undefined && !/^[0-9a-fA-F]{1,40}$/.test(serial)) throw new TiqError('TIQ_ERR_CONFIG', { problems: ['--serial: hexadecimal, at most 40 digits'] });
  const t = opts['tenant'];
  const body: Record<string, string> = serial !== undefined ? { serial } : {};
  if (t && (opts['device'] || opts['app'])) {
    assertValidId('tenant', t);
    const device = opts['device'];
    const app = opts['app'];
    if (device) assertValidId('device', device);
    if (app) assertValidId('app', app);
    const uri = device ? deviceUri(t, device) : appUri(t, app!);
    const base = device ? `/v1/tenants/${t}/devices/${device}` : `/v1/tenants/${t}/apps/${app}`;
    return { path: `${base}/revoke`, body, verb: device ? 'devices.revoke' : 'apps.revoke', match: serial !== undefined ? { serial } : { uri }, tenant: t, ...(device ? { device } : { target: `app:${app}` }) };
  }
  if (serial === undefined) throw new TiqError('TIQ_ERR_CONFIG', { problems: ['give --serial, or --tenant with --device or --app'] });
  return { path: `/v1/certificates/${serial}/revoke`, body: {}, verb: 'certificates.revoke', match: { serial }, target: `certificate:${serial}` };
}

export function registerPkiCommands(program: Command): void {
  const pki = program.command('pki').description('the gateway\'s certificate authority');

  pki.command('init')
    .description('create the CA and a server certificate (never overwrites an existing CA)')
    .option('--host <host...>', 'hostnames and IP addresses for the server certificate')
    .option('--force-server', 're-issue the server certificate')
    .option('--key-type <type>', 'key type of a new CA and server certificate: ec (P-256) or rsa (2048); default config pkiKeyType')
    .action(action(async (opts: { host?: string[]; forceServer?: boolean; keyType?: string }, cmd: Command) => {
      const loaded = cliConfig(cmd);
      const dir = pkiDirOf(loaded);
      const keyType = keyTypeOption(opts.keyType) ?? loaded.config.pkiKeyType;
      const r = initPki(dir, opts.host ?? loaded.config.mqtt.serverHosts, { force: opts.forceServer ?? false, keyType });
      process.stdout.write(`${r.createdCa ? 'created' : 'kept existing'} CA in ${dir}; ${r.createdServer ? 'issued' : 'kept'} server certificate\n`);
    }));

  const issue = pki.command('issue').description('issue a client certificate (through the running gateway when one runs on this data directory)');
  const common = (c: Command) => c.option('--out <dir>', 'where to write <name>.crt, <name>.key and ca.crt').option('--days <n>', 'validity in days')
    .option('--key-type <type>', 'key type generated here: ec (P-256) or rsa (2048); default config pkiKeyType');
  common(issue.command('device').requiredOption('--tenant <tenant>').requiredOption('--device <device>'))
    .action(issueAction((o) => ({ kind: 'device', tenantId: o['tenant']!, deviceId: o['device']!, uri: '' })));
  common(issue.command('app').requiredOption('--tenant <tenant>').requiredOption('--app <app>'))
    .action(issueAction((o) => ({ kind: 'app', tenantId: o['tenant']!, appId: o['app']!, uri: '' })));
  common(issue.command('operator').requiredOption('--name <name>'))
    .action(issueAction((o) => ({ kind: 'operator', operatorName: o['name']!, uri: '' })));

  registerSignCsrCommand(pki);

  pki.command('list')
    .description('certificates issued by the CA, with their status')
    .option('--tenant <tenant>')
    .option('--json', 'machine-readable output')
    .action(action(async (opts: { tenant?: string; json?: boolean }, cmd: Command) => {
      const loaded = cliConfig(cmd);
      const rows = await withControlStore(loaded.config, async (store) =>
        new IssuanceRegistry(pkiPaths(pkiDirOf(loaded)).registry, store).list(opts.tenant ? { tenantId: opts.tenant } : {}));
      if (opts.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      else printTable(rows.map((r) => ({ serial: r.serial, kind: r.kind, identity: r.subject, notAfter: r.notAfter, status: r.status })));
    }));

  pki.command('revoke')
    .description('revoke by serial, or every active certificate of a device or app; a running gateway disconnects it at once')
    .option('--serial <serial>')
    .option('--tenant <tenant>')
    .option('--device <device>')
    .option('--app <app>')
    .option('--actor <name>', 'who revokes, recorded in the registry when no gateway runs; through a running gateway, the local operator', LOCAL_OPERATOR_ACTOR)
    .action(action(async (opts: Opts, cmd: Command) => {
      const loaded = cliConfig(cmd);
      const t = revokeTarget(opts);
      const serials = await viaGatewayOrLocally(loaded.config, {
        online: async (c) => (await c.json('POST', t.path, t.body))['revoked'] as string[],
        offline: (state) => state.audited({ action: t.verb, tenant: t.tenant, device: t.device, target: t.target }, async () => {
          const revoked = (await withControlStore(loaded.config, (store) => new IssuanceRegistry(pkiPaths(pkiDirOf(loaded)).registry, store).revoke(t.match, opts['actor']!))).map((r) => r.serial);
          return { result: revoked, note: `revoked=${revoked.join(',') || 'none'}` };
        }),
      });
      if (serials.length === 0) throw new TiqError('TIQ_ERR_NOT_FOUND', 'no active certificate matched');
      for (const s of serials) process.stdout.write(`revoked ${s}\n`);
    }));
}
