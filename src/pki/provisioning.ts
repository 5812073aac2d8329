/**
 * Fleet provisioning by claim, as AWS IoT's fleet provisioning by claim
 * does it: a device leaves the factory with only a claim certificate, a
 * credential of its tenant that can do one thing, ask for the device's own
 * certificate for a CSR the device made. The claim's template bounds what
 * it may obtain: device ids matching a pattern, a device group, how many
 * devices, until when, and the validity of what it obtains.
 *
 * Claims and their registrations live in the control store
 * (`provisioning-claim`, `provisioning-registration`), so every gateway
 * sharing the store enforces revocation and counts. The claim certificate's
 * SAN URI (`urn:thingiq:tenant:<t>:claim:<c>`) is no identity the broker or
 * the admin API's certificate authentication knows: it cannot connect to
 * MQTT, publish or subscribe, nor call any other route.
 */
import type { X509Certificate } from 'node:crypto';
import type { ProvisioningClaimValue, ProvisioningRegistrationValue } from '../control/control-kinds.ts';
import type { ControlStore } from '../control/control-store.ts';
import { TiqError } from '../errors.ts';
import { ID_PATTERN } from '../identity/identity.ts';
import { issueUriCertificate, type CaMaterial, type IssuedPem } from './certificates.ts';
import { normaliseSerial } from './issuance-registry.ts';
import { CLIENT_AUTH } from './x509-der.ts';

export type Claim = ProvisioningClaimValue;

const ID = '([a-z0-9][a-z0-9-]{0,62})';
const CLAIM_URI = new RegExp(`^urn:thingiq:tenant:${ID}:claim:${ID}$`);

export function claimUri(tenantId: string, claimId: string): string {
  return `urn:thingiq:tenant:${tenantId}:claim:${claimId}`;
}

export function parseClaimUri(uri: string): { tenantId: string; claimId: string } | undefined {
  const m = CLAIM_URI.exec(uri);
  return m ? { tenantId: m[1]!, claimId: m[2]! } : undefined;
}

/** A glob over device ids: ids and `*`/`?` only, so matching cannot backtrack badly on a hostile pattern. */
export const DEVICE_PATTERN = /^[a-z0-9*?][a-z0-9*?-]{0,62}$/;

export function deviceIdMatches(pattern: string, deviceId: string): boolean {
  const source = pattern.replace(/[*?]/g, (c) => (c === '*' ? '[a-z0-9-]*' : '[a-z0-9-]'));
  return ID_PATTERN.test(deviceId) && new RegExp(`^${source}$`).test(deviceId);
}

const DAY_MS = 24 * 3600 * 1000;
/** The longest a claim may live: the longest a certificate of this CA lives. */
export const MAX_CLAIM_DAYS = 825;

/** When a new claim expires: `expiresAt`, or `validDays` from now (default 30); TIQ_ERR_BAD_REQUEST when past or too far. */
export function claimExpiry(expiresAt: string | undefined, validDays: number | undefined, nowMs = Date.now()): Date {
  if (expiresAt !== undefined && validDays !== undefined) throw new TiqError('TIQ_ERR_BAD_REQUEST', { problems: ['give expiresAt or validDays, not both'] });
  const at = expiresAt !== undefined ? Date.parse(expiresAt) : nowMs + (validDays ?? 30) * DAY_MS;
  if (!(at > nowMs) || at > nowMs + MAX_CLAIM_DAYS * DAY_MS) {
    throw new TiqError('TIQ_ERR_BAD_REQUEST', { problems: [`expiresAt: a time in the future, at most ${MAX_CLAIM_DAYS} days ahead`] });
  }
  return new Date(at);
}

/** The claim certificate outlives the claim by a day, so a device that comes late hears TIQ_ERR_CLAIM_EXPIRED rather than a failed handshake. */
export function claimCertificateNotAfter(expiresAt: Date): Date {
  return new Date(expiresAt.getTime() + DAY_MS);
}

/** A claim's certificate for a given public key (the maker keeps the private key). */
export function issueClaimCertificate(ca: CaMaterial, tenantId: string, claimId: string, expiresAt: Date, publicKeyPem: string): IssuedPem {
  return issueUriCertificate(ca, [
    { shortName: 'CN', value: claimId }, { shortName: 'O', value: tenantId }, { shortName: 'OU', value: 'provisioning claim' },
  ], claimUri(tenantId, claimId), { publicKeyPem, notAfter: claimCertificateNotAfter(expiresAt) });
}

const claimKey = (tenantId: string, claimId: string) => `${tenantId}/${claimId}`;
const registrationKey = (tenantId: string, claimId: string, deviceId: string) => `${tenantId}/${claimId}/${deviceId}`;

export interface ClaimListing extends Claim {
  readonly used: number;
  readonly status: 'active' | 'revoked' | 'expired' | 'exhausted';
}

/**
 * The claim a TLS peer certificate stands for, after the checks OpenSSL
 * does not make for it (as peer-identity.ts does for devices): validity now,
 * clientAuth usage, issued by the gateway's CA, not revoked by serial, and
 * exactly one claim URI. Undefined when it is no claim certificate.
 */
export function claimOfCertificate(cert: X509Certificate, ownCa: X509Certificate, isRevoked: (serial: string) => boolean): { tenantId: string; claimId: string; serial: string } | undefined {
  const now = Date.now();
  if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) < now) throw new TiqError('TIQ_ERR_CERT_EXPIRED');
  if (!(cert.keyUsage ?? []).includes(CLIENT_AUTH)) throw new TiqError('TIQ_ERR_CERT_USAGE');
  if (!cert.checkIssued(ownCa)) return undefined;
  if (isRevoked(cert.serialNumber)) throw new TiqError('TIQ_ERR_CERT_REVOKED');
  const claims = (cert.subjectAltName ?? '').split(', ').filter((e) => e.startsWith('URI:')).map((e) => parseClaimUri(e.slice(4)));
  const found = claims.filter((c) => c !== undefined);
  return claims.length === 1 && found.length === 1 ? { ...found[0]!, serial: normaliseSerial(cert.serialNumber) } : undefined;
}

export class ClaimRegistry {
  /** Registrations of one claim, one at a time in this process (the count is checked then reserved). */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly store: ControlStore) {}

  get(tenantId: string, claimId: string): Claim | undefined {
    return this.store.get('provisioning-claim', claimKey(tenantId, claimId));
  }

  used(tenantId: string, claimId: string): number {
    const prefix = `${claimKey(tenantId, claimId)}/`;
    let n = 0;
    for (const key of this.store.entries('provisioning-registration').keys()) if (key.startsWith(prefix)) n += 1;
    return n;
  }

  list(tenantId: string, nowMs = Date.now()): ClaimListing[] {
    return [...this.store.entries('provisioning-claim').values()].filter((c) => c.tenantId === tenantId)
      .sort((a, b) => a.claimId.localeCompare(b.claimId))
      .map((c) => {
        const used = this.used(c.tenantId, c.claimId);
        const status = c.revokedAt ? 'revoked' : Date.parse(c.expiresAt) <= nowMs ? 'expired' : used >= c.maxDevices ? 'exhausted' : 'active';
        return { ...c, used, status };
      });
  }

  /** Records a new claim; TIQ_ERR_CONFLICT when the id is taken (a revoked claim keeps its id: its history stays). */
  async create(claim: Claim, actor: string): Promise<void> {
    // What other connections wrote, first: the id may have been taken there.
    await this.store.catchUp();
    if (this.get(claim.tenantId, claim.claimId)) throw new TiqError('TIQ_ERR_CONFLICT', { problems: [`claimId: ${claim.claimId} exists`] });
    await this.store.put('provisioning-claim', claimKey(claim.tenantId, claim.claimId), claim, actor);
  }

  /** Revokes the claim; returns it, or undefined when there is none. A revoked claim stays revoked. */
  async revoke(tenantId: string, claimId: string, actor: string): Promise<Claim | undefined> {
    await this.store.catchUp();
    const claim = this.get(tenantId, claimId);
    if (!claim) return undefined;
    if (claim.revokedAt) return claim;
    const revoked = { ...claim, revokedAt: new Date().toISOString(), revokedBy: actor };
    await this.store.put('provisioning-claim', claimKey(tenantId, claimId), revoked, actor);
    return revoked;
  }

  /**
   * What the claim presented by a peer may register into `tenantId` as
   * `deviceId`, checked in this order: the claim's tenant, its record and
   * serial, revocation, expiry, the device id pattern, the count.
   */
  authorize(peer: { tenantId: string; claimId: string; serial: string }, tenantId: string, deviceId: string, nowMs = Date.now()): Claim {
    if (peer.tenantId !== tenantId) throw new TiqError('TIQ_ERR_CLAIM_TENANT');
    const claim = this.get(peer.tenantId, peer.claimId);
    // A certificate of a claim id that was never created here, or an older certificate of it, is no claim.
    if (!claim || normaliseSerial(claim.serial) !== peer.serial) throw new TiqError('TIQ_ERR_CLAIM_REVOKED', 'no such claim, or not its current certificate');
    if (claim.revokedAt) throw new TiqError('TIQ_ERR_CLAIM_REVOKED');
    if (Date.parse(claim.expiresAt) <= nowMs) throw new TiqError('TIQ_ERR_CLAIM_EXPIRED');
    if (!deviceIdMatches(claim.deviceIdPattern, deviceId)) throw new TiqError('TIQ_ERR_CLAIM_DEVICE_ID');
    if (this.used(claim.tenantId, claim.claimId) >= claim.maxDevices) throw new TiqError('TIQ_ERR_CLAIM_EXHAUSTED');
    return claim;
  }

  /**
   * Runs `register` for one device under the claim: authorizes, reserves a
   * place in the count (so concurrent registrations cannot pass the limit in
   * this process), runs it, and records the serial it issued; a failure
   * frees the place. Registrations of one claim run one at a time here.
   */
  async register(peer: { tenantId: string; claimId: string; serial: string }, tenantId: string, deviceId: string, actor: string,
    work: (claim: Claim) => Promise<{ serial: string }>): Promise<{ claim: Claim; serial: string }> {
    const key = claimKey(peer.tenantId, peer.claimId);
    const previous = this.queues.get(key) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(async () => {
      // Another gateway sharing the store may have registered under this claim meanwhile.
      await this.store.catchUp();
      const claim = this.authorize(peer, tenantId, deviceId);
      const rkey = registrationKey(claim.tenantId, claim.claimId, deviceId);
      if (this.store.get('provisioning-registration', rkey)) throw new TiqError('TIQ_ERR_CONFLICT', { problems: ['deviceId: already registered through this claim'] });
      const reservation: ProvisioningRegistrationValue = { tenantId, claimId: claim.claimId, deviceId, serial: '', registeredAt: new Date().toISOString() };
      await this.store.put('provisioning-registration', rkey, reservation, actor);
      try {
        const { serial } = await work(claim);
        await this.store.put('provisioning-registration', rkey, { ...reservation, serial: normaliseSerial(serial) }, actor);
        return { claim, serial };
      } catch (err) {
        await this.store.delete('provisioning-registration', rkey, actor);
        throw err;
      }
    });
    this.queues.set(key, run);
    try {
      return await run;
    } finally {
      if (this.queues.get(key) === run) this.queues.delete(key);
    }
  }
}
