/**
 * `thingiq provisioning`: fleet provisioning by claim (docs/SECURITY.md).
 * Operators create, list and revoke claims (through the running gateway
 * when one runs on this data directory, else offline on the control store);
 * `provisioning register` is what a device does with only its claim: make
 * its own key, send the CSR to the gateway's mTLS listener, keep the answer.
 */
import type { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminClient } from '../admin/admin-client.ts';
import { TiqError } from '../errors.ts';
import { assertValidId } from '../identity/identity.ts';
import { LOCAL_OPERATOR_ACTOR } from '../instance/local-operator.ts';
import { DEFAULT_KEY_TYPE, type KeyType } from '../pki/certificates.ts';
import { newKeyAndCsr } from '../pki/csr-request.ts';
import { checkCsr } from '../pki/csr-check.ts';
import { initPki, readCa } from '../pki/pki-store.ts';
import { claimExpiry, ClaimRegistry, DEVICE_PATTERN, issueClaimCertificate, type Claim } from '../pki/provisioning.ts';
import { writeFileAtomic, writePrivateKey } from '../pki/secure-files.ts';
import { action, cliConfig, pkiDirOf, printTable } from './context.ts';
import { withControlStore } from './control-access.ts';
import { keyTypeOption } from './pki-commands.ts';
import { registerDeviceByClaim } from './provisioning-register.ts';
import { viaGatewayOrLocally } from './state-path.ts';

type Opts = Record<string, string>;

function intOption(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new TiqError('TIQ_ERR_USAGE', { problems: [`--${name}: an integer from ${min} to ${max}`] });
  return n;
}

interface CreateInput { tenant: string; claimId: string; pattern: string; group?: string; max: number; expiresAt?: string; validDays?: number; certificateDays: number }

function createInput(o: Opts): CreateInput {
  assertValidId('tenant', o['tenant']!);
  assertValidId('claim', o['claim']!);
  if (o['group'] !== undefined) assertValidId('group', o['group']);
  if (!DEVICE_PATTERN.test(o['pattern']!)) throw new TiqError('TIQ_ERR_USAGE', { problems: ['--pattern: a glob over device ids: a-z, 0-9, -, * and ?'] });
  return {
    tenant: o['tenant']!, claimId: o['claim']!, pattern: o['pattern']!, ...(o['group'] !== undefined ? { group: o['group'] } : {}),
    max: intOption('max', o['max'], 1, 1_000_000)!, ...(o['expires'] !== undefined ? { expiresAt: o['expires'] } : {}),
    ...(o['days'] !== undefined ? { validDays: intOption('days', o['days'], 1, 825)! } : {}), certificateDays: intOption('cert-days', o['certDays'], 1, 825) ?? 397,
  };
}

async function createOnline(c: AdminClient, i: CreateInput, csrPem: string): Promise<{ serial: string; certPem: string; caPem: string; expiresAt: string }> {
  const r = await c.json('POST', `/v1/tenants/${i.tenant}/provisioning/claims`, {
    claimId: i.claimId, deviceIdPattern: i.pattern, ...(i.group ? { deviceGroup: i.group } : {}), maxDevices: i.max,
    ...(i.expiresAt ? { expiresAt: i.expiresAt } : {}), ...(i.validDays ? { validDays: i.validDays } : {}), certificateDays: i.certificateDays, csr: csrPem,
  });
  return r as { serial: string; certPem: string; caPem: string; expiresAt: string };
}

async function createOffline(config: Parameters<typeof withControlStore>[0], pkiDir: string, hosts: readonly string[], keyType: KeyType, i: CreateInput, csrPem: string) {
  initPki(pkiDir, hosts, { keyType });
  const expiresAt = claimExpiry(i.expiresAt, i.validDays);
  const ca = readCa(pkiDir);
  const issued = issueClaimCertificate(ca, i.tenant, i.claimId, expiresAt, checkCsr(csrPem).publicKeyPem);
  const claim: Claim = {
    tenantId: i.tenant, claimId: i.claimId, deviceIdPattern: i.pattern, ...(i.group ? { deviceGroup: i.group } : {}), maxDevices: i.max,
    expiresAt: expiresAt.toISOString(), certificateDays: i.certificateDays, serial: issued.serial, createdAt: new Date().toISOString(), createdBy: LOCAL_OPERATOR_ACTOR,
  };
  await withControlStore(config, (store) => new ClaimRegistry(store).create(claim, LOCAL_OPERATOR_ACTOR));
  return { serial: issued.serial, certPem: issued.certPem, caPem: ca.certPem, expiresAt: claim.expiresAt };
}

function registerClaimCommands(claim: Command): void {
  claim.command('create')
    .description('create a claim and write its certificate and key (0600): what a new device starts with')
    .requiredOption('--tenant <tenant>').requiredOption('--claim <claim>', 'claim id')
    .requiredOption('--pattern <glob>', 'device ids it may register: * any run of id characters, ? one (e.g. sensor-*)')
    .requiredOption('--max <n>', 'how many devices it may register')
    .option('--group <group>', 'device group each registered device joins')
    .option('--expires <iso>', 'when it stops registering (ISO 8601)').option('--days <n>', 'or: days from now (default 30)')
    .option('--cert-days <n>', 'validity of the device certificates it obtains (default 397)')
    .option('--key-type <type>', 'claim key: ec (P-256, default) or rsa')
    .requiredOption('--out <dir>', 'where to write <claim>.claim.crt, <claim>.claim.key and ca.crt')
    .action(action(async (o: Opts, cmd: Command) => {
      const loaded = cliConfig(cmd);
      const input = createInput(o);
      // The claim key is made here; only its CSR goes to the gateway.
      const { keyPem, csrPem } = newKeyAndCsr(input.claimId, keyTypeOption(o['keyType']) ?? DEFAULT_KEY_TYPE);
      const r = await viaGatewayOrLocally(loaded.config, {
        online: (c) => createOnline(c, input, csrPem),
        offline: (state) => state.audited({ action: 'provisioning.claims.create', tenant: input.tenant, target: `claim:${input.claimId}` }, async () => {
          const result = await createOffline(loaded.config, pkiDirOf(loaded), loaded.config.mqtt.serverHosts, loaded.config.pkiKeyType, input, csrPem);
          return { result, note: `claim=${input.claimId} serial=${result.serial} max=${input.max}` };
        }),
      });
      const out = o['out']!;
      mkdirSync(out, { recursive: true });
      const paths = { cert: join(out, `${input.claimId}.claim.crt`), key: join(out, `${input.claimId}.claim.key`), ca: join(out, 'ca.crt') };
      writeFileAtomic(paths.cert, r.certPem);
      writePrivateKey(paths.key, keyPem);
      writeFileAtomic(paths.ca, r.caPem);
      process.stdout.write(`created claim ${input.claimId} (serial ${r.serial}, expires ${r.expiresAt})\n  ${paths.cert}\n  ${paths.key} (mode 0600)\n  ${paths.ca}\n`);
    }));

  claim.command('list')
    .description('claims of a tenant with their template, devices registered and status')
    .requiredOption('--tenant <tenant>').option('--json', 'machine-readable output')
    .action(action(async (o: { tenant: string; json?: boolean }, cmd: Command) => {
      assertValidId('tenant', o.tenant);
      const rows = await withControlStore(cliConfig(cmd).config, async (store) => new ClaimRegistry(store).list(o.tenant));
      if (o.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      else printTable(rows.map((r) => ({ claim: r.claimId, pattern: r.deviceIdPattern, group: r.deviceGroup ?? '', used: `${r.used}/${r.maxDevices}`, expiresAt: r.expiresAt, status: r.status })));
    }));

  claim.command('revoke')
    .description('revoke a claim: it registers no more devices (those it registered keep their certificates)')
    .requiredOption('--tenant <tenant>').requiredOption('--claim <claim>')
    .action(action(async (o: Opts, cmd: Command) => {
      const loaded = cliConfig(cmd);
      const tenant = o['tenant']!;
      const claimId = o['claim']!;
      assertValidId('tenant', tenant);
      assertValidId('claim', claimId);
      await viaGatewayOrLocally(loaded.config, {
        online: async (c) => { await c.json('POST', `/v1/tenants/${tenant}/provisioning/claims/${claimId}/revoke`, {}); },
        offline: (state) => state.audited({ action: 'provisioning.claims.revoke', tenant, target: `claim:${claimId}` }, async () => {
          const revoked = await withControlStore(loaded.config, (store) => new ClaimRegistry(store).revoke(tenant, claimId, LOCAL_OPERATOR_ACTOR));
          if (!revoked) throw new TiqError('TIQ_ERR_NOT_FOUND', `no claim ${claimId} in ${tenant}`);
          return { result: undefined, note: `claim=${claimId}` };
        }),
      });
      process.stdout.write(`revoked claim ${claimId}\n`);
    }));
}

export function registerProvisioningCommands(program: Command): void {
  const provisioning = program.command('provisioning').description('fleet provisioning by claim');
  registerClaimCommands(provisioning.command('claim').description('claims: create, list, revoke'));
  provisioning.command('register')
    .description('as a new device: make an own key, register with the claim over HTTPS, and write the device certificate')
    .requiredOption('--url <url>', 'the gateway\'s mTLS admin listener, e.g. https://gateway.example.com:8444')
    .requiredOption('--ca <file>', 'the gateway CA certificate (verification is never turned off)')
    .requiredOption('--claim-cert <file>').requiredOption('--claim-key <file>')
    .requiredOption('--tenant <tenant>').requiredOption('--device <device>')
    .requiredOption('--out <dir>', 'where to write <device>.crt, <device>.key (0600) and ca.crt')
    .option('--key-type <type>', 'device key: ec (P-256, default) or rsa')
    .option('--servername <name>', 'TLS server name, when the URL host is an address')
    .action(action(async (o: Opts) => {
      assertValidId('tenant', o['tenant']!);
      assertValidId('device', o['device']!);
      const r = await registerDeviceByClaim({
        url: o['url']!, caFile: o['ca']!, claimCertFile: o['claimCert']!, claimKeyFile: o['claimKey']!, tenantId: o['tenant']!, deviceId: o['device']!,
        out: o['out']!, keyType: keyTypeOption(o['keyType']) ?? DEFAULT_KEY_TYPE, ...(o['servername'] ? { servername: o['servername'] } : {}),
      });
      process.stdout.write(`registered device ${o['device']}, serial ${r.serial}\n  ${r.certPath}\n  ${r.keyPath} (mode 0600)\n  ${r.caPath}\n`);
    }));
}
