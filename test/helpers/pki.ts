/** Certificates made per test run: the gateway's own CA, and the bad ones (foreign CA, expired, ...). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueClientCertificate, type IssuedPem } from '../../src/pki/certificates.ts';
import { initPki, issueIdentity, readCa } from '../../src/pki/pki-store.ts';
import type { ClientCertificateOptions, KeyType } from '../../src/pki/certificates.ts';
import type { Identity } from '../../src/identity/identity.ts';

export interface ClientPem {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly caPath: string;
  readonly serial: string;
}

export class TestPki {
  readonly dir: string;
  private n = 0;

  /** `keyType`: of the CA and server certificate made here (default EC P-256, as the gateway makes them). */
  constructor(readonly baseDir = mkdtempSync(join(tmpdir(), 'thingiq-test-')), opts: { keyType?: KeyType } = {}) {
    this.dir = join(baseDir, 'certs');
    initPki(this.dir, ['localhost', '127.0.0.1'], opts.keyType ? { keyType: opts.keyType } : {});
  }

  get caPem(): string {
    return readCa(this.dir).certPem;
  }

  private issue(id: Identity, opts: ClientCertificateOptions = {}): ClientPem {
    const out = join(this.baseDir, 'clients', String(this.n++));
    const r = issueIdentity(this.dir, id, out, opts);
    return { cert: r.certPem, key: r.keyPem, ca: this.caPem, certPath: r.certPath, keyPath: r.keyPath!, caPath: r.caPath, serial: r.serial };
  }

  device(tenantId: string, deviceId: string, opts: ClientCertificateOptions = {}): ClientPem {
    return this.issue({ kind: 'device', tenantId, deviceId, uri: '' }, opts);
  }

  app(tenantId: string, appId: string, opts: ClientCertificateOptions = {}): ClientPem {
    return this.issue({ kind: 'app', tenantId, appId, uri: '' }, opts);
  }

  operator(name: string): ClientPem {
    return this.issue({ kind: 'operator', operatorName: name, uri: '' });
  }

  /** A device certificate from a CA the gateway does not trust. */
  foreignDevice(tenantId: string, deviceId: string): ClientPem {
    const ca: IssuedPem = createCa('Foreign CA');
    const c = issueClientCertificate({ certPem: ca.certPem, keyPem: ca.keyPem }, { kind: 'device', tenantId, deviceId, uri: '' });
    return { cert: c.certPem, key: c.keyPem, ca: this.caPem, certPath: '', keyPath: '', caPath: '', serial: c.serial };
  }
}
