import type { Command } from 'commander';
import { join } from 'node:path';
import type { Identity } from '../identity/identity.ts';
import { IssuanceRegistry } from '../pki/issuance-registry.ts';
import { initPki, issueIdentity, pkiPaths } from '../pki/pki-store.ts';
import { appUri, deviceUri } from '../identity/identity.ts';
import { action, cliConfig, pkiDirOf, printTable } from './context.ts';
import { withControlStore } from './control-access.ts';

function issueAction(make: (o: Record<string, string>) => Identity) {
  return action(async (opts: Record<string, string>, cmd: Command) => {
    const loaded = cliConfig(cmd);
    const dir = pkiDirOf(loaded);
    initPki(dir, loaded.config.mqtt.serverHosts);
    const id = make(opts);
    const out = opts['out'] ?? join(dir, 'clients');
    const r = issueIdentity(dir, id, out, opts['days'] ? { days: Number(opts['days']) } : {});
    process.stdout.write(`issued ${id.kind} certificate, serial ${r.serial}\n  ${r.certPath}\n  ${r.keyPath} (mode 0600)\n  ${r.caPath}\n`);
  });
}

export function registerPkiCommands(program: Command): void {
  const pki = program.command('pki').description('the gateway\'s certificate authority');

  pki.command('init')
    .description('create the CA and a server certificate (never overwrites an existing CA)')
    .option('--host <host...>', 'hostnames and IP addresses for the server certificate')
    .option('--force-server', 're-issue the server certificate')
    .action(action(async (opts: { host?: string[]; forceServer?: boolean }, cmd: Command) => {
      const loaded = cliConfig(cmd);
      const dir = pkiDirOf(loaded);
      const r = initPki(dir, opts.host ?? loaded.config.mqtt.serverHosts, { force: opts.forceServer ?? false });
      process.stdout.write(`${r.createdCa ? 'created' : 'kept existing'} CA in ${dir}; ${r.createdServer ? 'issued' : 'kept'} server certificate\n`);
    }));

  const issue = pki.command('issue').description('issue a client certificate');
  const common = (c: Command) => c.option('--out <dir>', 'where to write <name>.crt, <name>.key and ca.crt').option('--days <n>', 'validity in days');
  common(issue.command('device').requiredOption('--tenant <tenant>').requiredOption('--device <device>'))
    .action(issueAction((o) => ({ kind: 'device', tenantId: o['tenant']!, deviceId: o['device']!, uri: '' })));
  common(issue.command('app').requiredOption('--tenant <tenant>').requiredOption('--app <app>'))
    .action(issueAction((o) => ({ kind: 'app', tenantId: o['tenant']!, appId: o['app']!, uri: '' })));
  common(issue.command('operator').requiredOption('--name <name>'))
    .action(issueAction((o) => ({ kind: 'operator', operatorName: o['name']!, uri: '' })));

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
    .description('revoke by serial, or every active certificate of a device or app; a running gateway disconnects it within a second')
    .option('--serial <serial>')
    .option('--tenant <tenant>')
    .option('--device <device>')
    .option('--app <app>')
    .option('--actor <name>', 'who revokes (recorded)', process.env['USER'] ?? 'operator')
    .action(action(async (opts: Record<string, string>, cmd: Command) => {
      const loaded = cliConfig(cmd);
      const uri = opts['tenant'] && opts['device'] ? deviceUri(opts['tenant'], opts['device'])
        : opts['tenant'] && opts['app'] ? appUri(opts['tenant'], opts['app']) : undefined;
      if (!opts['serial'] && !uri) throw new Error('give --serial, or --tenant with --device or --app');
      const revoked = await withControlStore(loaded.config, (store) => new IssuanceRegistry(pkiPaths(pkiDirOf(loaded)).registry, store).revoke({ ...(opts['serial'] ? { serial: opts['serial'] } : {}), ...(uri ? { uri } : {}) }, opts['actor']!));
      if (revoked.length === 0) throw new Error('no active certificate matched');
      for (const r of revoked) process.stdout.write(`revoked ${r.serial} (${r.subject})\n`);
    }));
}
