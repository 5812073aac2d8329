/** Fleet provisioning for the admin API: the claims in the control store, and the CA that signs claim certificates. */
import type { ControlStore } from '../control/control-store.ts';
import { DEFAULT_KEY_TYPE, newKeyPairAsync, type KeyType } from '../pki/certificates.ts';
import { readCa } from '../pki/pki-store.ts';
import { ClaimRegistry, issueClaimCertificate } from '../pki/provisioning.ts';
import type { AdminProvisioning } from './admin-deps.ts';

export function provisioningAdmin(pkiDir: string, control: ControlStore, keyType: KeyType = DEFAULT_KEY_TYPE): AdminProvisioning {
  return {
    claims: new ClaimRegistry(control),
    issueClaimCertificate: async (tenantId, claimId, expiresAt, o) => {
      // Generated on libuv's thread pool when the caller sent no CSR; returned once, never kept.
      const made = o.publicKeyPem ? undefined : await newKeyPairAsync(o.keyType ?? keyType);
      const issued = issueClaimCertificate(readCa(pkiDir), tenantId, claimId, expiresAt, o.publicKeyPem ?? made!.publicKeyPem);
      return made ? { ...issued, keyPem: made.privateKeyPem } : issued;
    },
  };
}
