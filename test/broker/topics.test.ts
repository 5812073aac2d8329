/** Topic rules without a broker: `$share` filters judged as their filter alone, lifecycle-event topics. */
import { describe, expect, it } from 'vitest';
import type { Identity } from '../../src/identity/identity.ts';
import { classifyPublish, eventTopic, parseEventTopic, parseSharedFilter, subscriptionAllowed } from '../../src/broker/topics.ts';

const APP: Identity = { kind: 'app', tenantId: 'acme', appId: 'dash', uri: '' };
const DEVICE: Identity = { kind: 'device', tenantId: 'acme', deviceId: 'truck-1', uri: '' };
const OPERATOR: Identity = { kind: 'operator', operatorName: 'alice', uri: '' };

describe('shared filters', () => {
  it.each([
    ['$share/g/tenants/acme/#', { group: 'g', filter: 'tenants/acme/#' }],
    ['$share/work.ers_1/tenants/acme/devices/+/location', { group: 'work.ers_1', filter: 'tenants/acme/devices/+/location' }],
    ['tenants/acme/#', undefined],
    ['$share/g', null], ['$share//tenants/acme/#', null], ['$share/g+/tenants/acme/#', null], ['$share/g/', null], [`$share/${'g'.repeat(65)}/tenants/acme/#`, null],
  ])('%s parses as %j', (filter, expected) => {
    expect(parseSharedFilter(filter)).toEqual(expected);
  });

  it('a $share filter is allowed exactly when its filter is, and only for apps', () => {
    for (const filter of ['tenants/acme/#', 'tenants/acme/devices/+/location', 'tenants/acme/events/#', 'tenants/acme/+/truck-1/#', 'tenants/globex/#', 'tenants/+/devices/#', '#', '$SYS/#']) {
      expect(subscriptionAllowed(APP, `$share/g/${filter}`).ok).toBe(subscriptionAllowed(APP, filter).ok);
    }
    expect(subscriptionAllowed(APP, '$share/g/tenants/acme/#').ok).toBe(true);
    expect(subscriptionAllowed(OPERATOR, '$share/g/$SYS/#').ok).toBe(false);
    expect(subscriptionAllowed(DEVICE, '$share/g/tenants/acme/#').ok).toBe(false);
  });
});

describe('lifecycle-event topics', () => {
  it('round-trips and rejects anything else', () => {
    expect(parseEventTopic(eventTopic('acme', 'truck-1', 'disconnected'))).toEqual({ tenantId: 'acme', deviceId: 'truck-1', event: 'disconnected' });
    expect(parseEventTopic('tenants/acme/events/truck-1/rebooted')).toBeUndefined();
    expect(parseEventTopic('tenants/acme/devices/truck-1/location')).toBeUndefined();
  });

  it('apps may subscribe to their tenant\'s events; devices may not publish there', () => {
    expect(subscriptionAllowed(APP, 'tenants/acme/events/+/connected').ok).toBe(true);
    expect(subscriptionAllowed(APP, 'tenants/globex/events/#').ok).toBe(false);
    expect(classifyPublish(DEVICE, 'tenants/acme/events/truck-1/connected', new Set(['location'])).kind).toBe('denied');
  });
});
