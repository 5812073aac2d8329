import { describe, expect, it } from 'vitest';
import { isValidId, parseIdentityUri } from '../../src/identity/identity.ts';

describe('identities', () => {
  it('parses the three URI forms', () => {
    expect(parseIdentityUri('urn:thingiq:tenant:acme:device:truck-1')).toMatchObject({ kind: 'device', tenantId: 'acme', deviceId: 'truck-1' });
    expect(parseIdentityUri('urn:thingiq:tenant:acme:app:dash')).toMatchObject({ kind: 'app', tenantId: 'acme', appId: 'dash' });
    expect(parseIdentityUri('urn:thingiq:operator:alice')).toMatchObject({ kind: 'operator', operatorName: 'alice' });
  });

  it.each([
    'urn:thingiq:tenant:acme:device:truck/1', 'urn:thingiq:tenant:acme:device:+', 'urn:thingiq:tenant:acme:device:#',
    'urn:thingiq:tenant:ACME:device:x', 'urn:thingiq:tenant:acme:device:x\n', 'urn:thingiq:tenant:acme:device:',
    'urn:thingiq:tenant:acme:device:x:device:y', 'URN:thingiq:operator:alice', 'urn:thingiq:tenant:acme:admin:x',
  ])('refuses %j', (uri) => {
    expect(parseIdentityUri(uri)).toBeUndefined();
  });

  it('ids are 1..63 lower-case letters, digits and hyphens, not starting with a hyphen', () => {
    expect(isValidId('a')).toBe(true);
    expect(isValidId('a'.repeat(63))).toBe(true);
    expect(isValidId('a'.repeat(64))).toBe(false);
    expect(isValidId('-a')).toBe(false);
    expect(isValidId('a_b')).toBe(false);
    expect(isValidId('')).toBe(false);
  });
});
