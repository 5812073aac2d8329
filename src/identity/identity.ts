/**
 * Identities of the gateway, as docs/architecture.md fixes them. Identity comes from
 * the certificate's SAN URI, never from the MQTT username or client id.
 */
import { TiqError } from '../errors.ts';

/** Ids of tenants, devices, apps and operators. Closes topic injection through ids. */
export const ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The problem text every id check reports (the admin API recognises id failures by it). */
export const ID_PROBLEM = `must match ${ID_PATTERN.source}`;

export type Identity =
  | { readonly kind: 'device'; readonly tenantId: string; readonly deviceId: string; readonly uri: string }
  | { readonly kind: 'app'; readonly tenantId: string; readonly appId: string; readonly uri: string }
  | { readonly kind: 'operator'; readonly operatorName: string; readonly uri: string };

export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** Throws TIQ_ERR_INVALID_ID naming the field (never echoing a hostile value at length). */
export function assertValidId(field: string, id: string): void {
  if (!isValidId(id)) {
    throw new TiqError('TIQ_ERR_INVALID_ID', `${field} ${JSON.stringify(id.slice(0, 80))} must match ${ID_PATTERN.source}`);
  }
}

export function deviceUri(tenantId: string, deviceId: string): string {
  return `urn:thingiq:tenant:${tenantId}:device:${deviceId}`;
}
export function appUri(tenantId: string, appId: string): string {
  return `urn:thingiq:tenant:${tenantId}:app:${appId}`;
}
export function operatorUri(name: string): string {
  return `urn:thingiq:operator:${name}`;
}

const ID = '([a-z0-9][a-z0-9-]{0,62})';
const DEVICE_URI = new RegExp(`^urn:thingiq:tenant:${ID}:device:${ID}$`);
const APP_URI = new RegExp(`^urn:thingiq:tenant:${ID}:app:${ID}$`);
const OPERATOR_URI = new RegExp(`^urn:thingiq:operator:${ID}$`);

/** Parses one SAN URI; returns undefined when it is not a ThingIQ identity. */
export function parseIdentityUri(uri: string): Identity | undefined {
  let m = DEVICE_URI.exec(uri);
  if (m) return { kind: 'device', tenantId: m[1]!, deviceId: m[2]!, uri };
  m = APP_URI.exec(uri);
  if (m) return { kind: 'app', tenantId: m[1]!, appId: m[2]!, uri };
  m = OPERATOR_URI.exec(uri);
  if (m) return { kind: 'operator', operatorName: m[1]!, uri };
  return undefined;
}

export function describeIdentity(id: Identity): string {
  switch (id.kind) {
    case 'device': return `device ${id.tenantId}/${id.deviceId}`;
    case 'app': return `app ${id.tenantId}/${id.appId}`;
    case 'operator': return `operator ${id.operatorName}`;
  }
}

export function identityTenant(id: Identity): string | undefined {
  return id.kind === 'operator' ? undefined : id.tenantId;
}
