/**
 * `thingiq pki sign-csr`: a device's or an app's certificate for a CSR made
 * where its key lives (a secure element, a device maker's line). Only the
 * CSR is read; the identity comes from --tenant with --device or --app,
 * never from the request. Through the running gateway's admin API when one
 * runs on this data directory, else offline with the local CA.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminClient } from '../admin/admin-client.ts';
import { TiqError } from '../errors.ts';
import { appUri, assertValidId, deviceUri, type Identity } from '../identity/identity.ts';
import { LOCAL_OPERATOR_ACTOR } from '../instance/local-operator.ts';
import { checkCsr } from '../pki/csr-check.ts';
import { IssuanceRegistry } from '../pki/issuance-registry.ts';
import { initPki, issueIdentity, nameOf, pkiPaths } from '../pki/pki-store.ts';
import { writeFileAtomic } from '../pki/secure-files.ts';
import { action, cliConfig, pkiDirOf } from './context.ts';
import { withControlStore } from './control-access.ts';
import { viaGatewayOrLocally } from './state-path.ts';

type Opts = Record<string, string>;
type ClientIdentity = Exclude<Identity, { kind: 'operator' }>;
interface Signed { serial: string; certPath: string; caPath: string }

function identityOf(o: Opts): ClientIdentity {
  const tenantId = o['tenant']!;
  assertValidId('tenant', tenantId);
  if ((o['device'] === undefined) === (o['app'] === undefined)) throw new TiqError('TIQ_ERR_USAGE', { problems: ['give exactly one of --device or --app'] });
  if (o['device'] !== undefined) {
    assertValidId('device', o['device']);
    return { kind: 'device', tenantId, deviceId: o['device'], uri: deviceUri(tenantId, o['device']) };
  }
  assertValidId('app', o['app']!);
  return { kind: 'app', tenantId, appId: o['app']!, uri: appUri(tenantId, o['app']!) };
}

function readCsrFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new TiqError('TIQ_ERR_USAGE', `cannot read --csr ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

async function signOnline(c: AdminClient, id: ClientIdentity, csr: string, out: string, days: number | undefined): Promise<Signed> {
  const base = id.kind === 'device' ? `/v1/tenants/${id.tenantId}/devices/${id.deviceId}` : `/v1/tenants/${id.tenantId}/apps/${nameOf(id)}`;
  const r = await c.json('POST', `${base}/certificates`, { csr, ...(days ? { days } : {}) }) as { serial: string; certPem: string; caPem: string };
  const paths = { certPath: join(out, `${nameOf(id)}.crt`), caPath: join(out, 'ca.crt') };
  writeFileAtomic(paths.certPath, r.certPem);
  writeFileAtomic(paths.caPath, r.caPem);
  return { serial: r.serial, ...paths };
}

export function registerSignCsrCommand(pki: Command): void {
  pki.command('sign-csr')
    .description('issue a device or app certificate for a PKCS#10 request (ECDSA P-256 or RSA >= 2048); the private key never leaves its owner')
    .requiredOption('--tenant <tenant>')
    .option('--device <device>')
    .option('--app <app>')
    .requiredOption('--csr <file>', 'PEM certificate request')
    .requiredOption('--out <dir>', 'where to write <name>.crt and ca.crt')
    .option('--days <n>', 'validity in days')
    .action(action(async (opts: Opts, cmd: Command) => {
      const loaded = cliConfig(cmd);
      const dir = pkiDirOf(loaded);
      const id = identityOf(opts);
      const csr = readCsrFile(opts['csr']!);
      // Checked here too, so a bad request fails the same way online and offline before anything is written.
      const { publicKeyPem } = checkCsr(csr);
      const days = opts['days'] ? Number(opts['days']) : undefined;
      const out = opts['out']!;
      const verb = id.kind === 'device' ? 'devices' : 'apps';
      const r = await viaGatewayOrLocally<Signed>(loaded.config, {
        online: (c) => signOnline(c, id, csr, out, days),
        offline: (state) => state.audited({ action: `${verb}.issue`, tenant: id.tenantId, device: id.kind === 'device' ? id.deviceId : undefined, target: id.kind === 'app' ? `app:${id.appId}` : undefined }, async () => {
          initPki(dir, loaded.config.mqtt.serverHosts, { keyType: loaded.config.pkiKeyType });
          const issued = issueIdentity(dir, id, out, { publicKeyPem, ...(days ? { days } : {}) }, false);
          await withControlStore(loaded.config, (store) => new IssuanceRegistry(pkiPaths(dir).registry, store).record(issued.record, LOCAL_OPERATOR_ACTOR));
          return { result: { serial: issued.serial, certPath: issued.certPath, caPath: issued.caPath }, note: `serial=${issued.serial} csr` };
        }),
      });
      process.stdout.write(`issued ${id.kind} certificate for the CSR, serial ${r.serial}\n  ${r.certPath}\n  ${r.caPath}\n`);
    }));
}
