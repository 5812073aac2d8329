/**
 * What a device does with only its claim (the claim certificate and key, and
 * the gateway's CA): make its own key pair, send a CSR for it over HTTPS with
 * the claim certificate, and write the certificate it receives next to its
 * key (0600). The device's private key never leaves it.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AdminClient } from '../admin/admin-client.ts';
import type { KeyType } from '../pki/certificates.ts';
import { newKeyAndCsr } from '../pki/csr-request.ts';
import { writeFileAtomic, writePrivateKey } from '../pki/secure-files.ts';

export interface ClaimRegistration {
  readonly url: string;
  /** Paths of PEM files. */
  readonly caFile: string;
  readonly claimCertFile: string;
  readonly claimKeyFile: string;
  readonly tenantId: string;
  readonly deviceId: string;
  readonly out: string;
  readonly keyType: KeyType;
  readonly servername?: string;
}

export async function registerDeviceByClaim(r: ClaimRegistration): Promise<{ serial: string; certPath: string; keyPath: string; caPath: string }> {
  const { keyPem, csrPem } = newKeyAndCsr(r.deviceId, r.keyType);
  const client = new AdminClient({ url: r.url, caFile: r.caFile, certFile: r.claimCertFile, keyFile: r.claimKeyFile, servername: r.servername });
  const answer = await client.json('POST', `/v1/tenants/${r.tenantId}/provisioning/devices/${r.deviceId}`, { csr: csrPem }) as { serial: string; certPem: string; caPem: string };
  mkdirSync(r.out, { recursive: true });
  const paths = { certPath: join(r.out, `${r.deviceId}.crt`), keyPath: join(r.out, `${r.deviceId}.key`), caPath: join(r.out, 'ca.crt') };
  writePrivateKey(paths.keyPath, keyPem);
  writeFileAtomic(paths.certPath, answer.certPem);
  writeFileAtomic(paths.caPath, answer.caPem);
  return { serial: answer.serial, ...paths };
}
