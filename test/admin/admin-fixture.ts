/**
 * A real admin server for tests: PKI made per run, the real PKI, tenant and
 * privacy adapters, the real private-mode, restriction, objection and audit
 * stores, tenant changes over a real TenantOverrides (validated by the config
 * schema, as the gateway does), a JWKS file with a key made per run; keys,
 * records and retention are small in-memory implementations of their
 * AdminDeps interfaces.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { AdminConfigSchema } from '../../src/config/admin-config.ts';
import { pkiAdmin, privacyAdmin, tenantChangesAdmin, tenantsAdmin } from '../../src/admin/admin-adapters.ts';
import { provisioningAdmin } from '../../src/admin/provisioning-adapter.ts';
import type { AdminBackups, AdminDeps } from '../../src/admin/admin-deps.ts';
import { createBackup } from '../../src/backup/create-backup.ts';
import { createAdminServer, type AdminServer } from '../../src/admin/admin-server.ts';
import type { ControlStore } from '../../src/control/control-store.ts';
import { SqliteControlStore } from '../../src/control/sqlite-control-store.ts';
import { ObjectionRegistry } from '../../src/admin/objection-registry.ts';
import { RestrictionRegistry } from '../../src/admin/restriction-registry.ts';
import { TenantOverrides, type TenantOverridesState } from '../../src/admin/tenant-overrides.ts';
import { parseConfig } from '../../src/config/load.ts';
import { GatewayConfigSchema, type GatewayConfig } from '../../src/config/schema.ts';
import { TiqError } from '../../src/errors.ts';
import type { Identity } from '../../src/identity/identity.ts';
import { initPki, issueIdentity } from '../../src/pki/pki-store.ts';
import { privacySourcesFromConfig } from '../../src/privacy/config-sources.ts';
import { createPrivacyEngine } from '../../src/privacy/privacy-engine.ts';
import { createPrivateModeRegistry } from '../../src/privacy/private-mode.ts';
import { PolicyOverrides } from '../../src/privacy/policy-overrides.ts';
import { MemoryKeys, MemoryRecords, MemoryRetention } from './memory-deps.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
import { decodeJson, openRecord } from '../sinks/fixtures.ts';

export const ISSUER = 'https://idp.test.invalid/';
export const AUDIENCE = 'thingiq-admin';

export const GATEWAY_CONFIG = GatewayConfigSchema.parse({
  tenants: {
    acme: {
      deviceGroups: { fleet: ['truck-1', 'truck-2'] },
      apps: { dash: { streams: ['sensor'] } },
      privacy: { policyId: 'acme-default', version: 1, defaults: { '*': { action: 'coarsen', coarsen: { method: 'grid', cellM: 1000 } } } },
    },
    globex: {},
  },
});

export interface Credentials {
  readonly cert?: string;
  readonly key?: string;
  readonly token?: string;
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

export class AdminFixture {
  readonly dir = mkdtempSync(join(tmpdir(), 'thingiq-admin-'));
  readonly pkiDir = join(this.dir, 'certs');
  deps!: Omit<AdminDeps, 'audit'> & { readonly audit: AuditLog };
  server!: AdminServer;
  ports = { port: 0, mtlsPort: 0 };
  caPem = '';
  records = new MemoryRecords();
  keys = new MemoryKeys();
  retention = new MemoryRetention();
  tenantOverrides!: TenantOverrides;
  /** GATEWAY_CONFIG with the API's tenant changes. */
  config: GatewayConfig = parseConfig(GATEWAY_CONFIG);
  private signingKey!: CryptoKey;

  control!: ControlStore;
  recordSink!: SqliteSink;

  async start(): Promise<this> {
    initPki(this.pkiDir, ['localhost', '127.0.0.1']);
    this.control = await SqliteControlStore.open({ path: join(this.dir, 'data', 'control.db') });
    this.tenantOverrides = new TenantOverrides(this.control);
    this.config = parseConfig(this.tenantOverrides.apply(GATEWAY_CONFIG));
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    this.signingKey = privateKey;
    const jwksFile = join(this.dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
    const pki = pkiAdmin(this.pkiDir, this.control);
    // Replay reads a real (SQLite) sink; tests that need records write them into it.
    this.recordSink = new SqliteSink('replay', { path: join(this.dir, 'data', 'records.db'), durability: 'process' });
    await this.recordSink.start();
    this.caPem = pki.caCertPem;
    const config = () => this.config;
    this.deps = {
      tenants: tenantsAdmin(config),
      tenantChanges: tenantChangesAdmin(this.tenantOverrides, (next, change) => this.changeTenants(next, change.actor)),
      pki,
      privacy: this.privacyDeps(config),
      privateMode: createPrivateModeRegistry(this.control),
      retention: this.retention,
      keys: this.keys,
      records: this.records,
      replay: { sink: () => this.recordSink, openRecord, decode: decodeJson, horizon: () => Date.now() },
      restrictions: new RestrictionRegistry(this.control),
      objections: new ObjectionRegistry(this.control),
      audit: new AuditLog(join(this.dir, 'data', 'audit')),
      probes: { storage: async () => ({ ok: true }) },
      metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'thingiq_up 1\n' }),
      backups: this.backups(),
      provisioning: provisioningAdmin(this.pkiDir, this.control),
    };
    const adminConfig = AdminConfigSchema.parse({
      host: '127.0.0.1', port: 0, mtlsPort: 0,
      oauth: { issuer: ISSUER, audience: AUDIENCE, jwksFile },
    });
    this.server = createAdminServer(this.deps, { config: adminConfig });
    this.ports = await this.server.start();
    return this;
  }

  /** Real backups of the fixture's data directory, under a root key made for the run. */
  private backups(): AdminBackups {
    const rootKey = randomBytes(32).toString('base64');
    return {
      create: async () => {
        const out = join(this.dir, `backup-${randomBytes(6).toString('hex')}.tiqbak`);
        const config = { ...this.config, dataDir: join(this.dir, 'data'), pkiDir: this.pkiDir };
        const made = await createBackup({ config, resolvePath: (p) => p, out, keys: { config, env: { THINGIQ_ROOT_KEY: rootKey } } });
        return { file: out, bytes: made.bytes, sha256: made.sha256, files: made.manifest.files.length, discard: () => rmSync(out, { force: true }) };
      },
    };
  }

  /** Like Gateway.changeTenants, without the broker: validate base + changes, persist, put in force. */
  private async changeTenants(next: TenantOverridesState, actor: string): Promise<void> {
    const result = GatewayConfigSchema.safeParse(this.tenantOverrides.apply(GATEWAY_CONFIG, next));
    if (!result.success) throw new TiqError('TIQ_ERR_BAD_REQUEST', { problems: result.error.issues.map((i) => i.message) });
    await this.tenantOverrides.commit(next, actor);
    this.config = result.data;
  }

  /** The real policy engine with API overrides, as the gateway wires them. */
  private privacyDeps(config: () => GatewayConfig) {
    const base = privacySourcesFromConfig(GATEWAY_CONFIG);
    const overrides = new PolicyOverrides(this.control);
    const engine = createPrivacyEngine({ tenants: overrides.apply(base) });
    return privacyAdmin(config, engine, { get: (t) => overrides.get(t), put: (t, policy, actor) => overrides.put(engine, base, t, policy, actor) });
  }

  async close(): Promise<void> {
    await this.server.close();
    await this.recordSink.close();
    await this.control.close();
  }

  /** A client certificate from the gateway's CA (recorded in the issuance registry). */
  certificate(id: Identity): Credentials & { serial: string } {
    const issued = issueIdentity(this.pkiDir, id, undefined);
    return { cert: issued.certPem, key: issued.keyPem, serial: issued.serial };
  }

  async token(claims: Record<string, unknown>, o: { issuer?: string; audience?: string; expiresIn?: string | number; sub?: string } = {}): Promise<string> {
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject(o.sub ?? 'alice')
      .setIssuer(o.issuer ?? ISSUER).setAudience(o.audience ?? AUDIENCE).setIssuedAt()
      .setExpirationTime(o.expiresIn ?? '5m').sign(this.signingKey);
  }

  /** A real HTTPS request, verifying the server against the gateway's CA. Certificates go to the mTLS port. */
  call(method: string, path: string, creds: Credentials = {}, body?: unknown): Promise<Answer> {
    const mtls = creds.cert !== undefined;
    return this.send({
      port: mtls ? this.ports.mtlsPort : this.ports.port, method, path, body,
      ...(mtls ? { cert: creds.cert, key: creds.key } : {}),
      headers: creds.token ? { authorization: `Bearer ${creds.token}` } : {},
    });
  }

  /** A browser-like call on the bearer listener: Host as a browser sends it; cookie, Origin and CSRF header as given. */
  browser(method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> {
    return this.send({ port: this.ports.port, method, path, body, headers: { host: `localhost:${this.ports.port}`, ...headers } });
  }

  private send(o: { port: number; method: string; path: string; headers: Record<string, string>; body?: unknown; cert?: string; key?: string }): Promise<Answer> {
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest({
        host: '127.0.0.1', servername: 'localhost', port: o.port, method: o.method, path: o.path, ca: this.caPem,
        ...(o.cert !== undefined ? { cert: o.cert, key: o.key } : {}),
        headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
        agent: false,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        // A response the server cut off part-way is a failed call, not one that never ends.
        res.on('aborted', () => reject(new Error('response aborted')));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> = {};
          try { json = JSON.parse(text) as Record<string, unknown>; } catch { /* ndjson or empty */ }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }
}
