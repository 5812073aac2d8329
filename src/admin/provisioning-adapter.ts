/** Fleet provisioning for the admin API: the claims in the control store, and the CA that signs claim certificates. */
import type { ControlStore } from '../control/control-store.ts';
import { DEFAULT_KEY_TYPE, issueUriCertificate, newKeyPairAsync, type KeyType } from '../pki/certificates.ts';
import { readCa } from '../pki/pki-store.ts';
import { ClaimRegistry, claimUri } from '../pki/provisioning.ts';
import type { AdminProvisioning } from './admin-deps.ts';

const DAY_MS = 24 * 3600 * 1000;

export function provisioningAdmin(pkiDir: string, control: ControlStore, keyType: KeyType = DEFAULT_KEY_TYPE): AdminProvisioning {
  return {
    claims: new ClaimRegistry(control),
    issueClaimCertificate: async (tenantId, claimId, expiresAt, o) => {
      const made = o.publicKeyPem ? undefined : await newKeyPairAsync(o.keyType ?? keyType);
      const issued = issueUriCertificate(readCa(pkiDir), [
        { shortName: 'CN', value: claimId }, { shortName: 'O', value: tenantId }, { shortName: 'OU', value: 'provisioning claim' },
      ], claimUri(tenantId, claimId), { publicKeyPem: o.publicKeyPem ?? made!.publicKeyPem, notAfter: new Date(expiresAt.getTime() + DAY_MS) });
      return made ? { ...issued, keyPem: made.privateKeyPem } : issued;
    },
  };
}
