/** The cluster bus's subjects and packet bytes: every topic on its own subject, every packet back as it went. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BusCodecError, controlSubject, decodePacket, encodePacket, subjectOf, tenantOfFilter, tenantSubject, topicMatchesSubject, type BusPacket,
} from '../../src/cluster/bus-codec.ts';

const id = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/);
const stream = fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/);

describe('bus subjects', () => {
  it('maps telemetry, events and takeover notices to three subject spaces', () => {
    expect(subjectOf('tiq', 'tenants/acme/devices/truck-1/location')).toBe('tiq.acme.truck-1.location');
    expect(subjectOf('tiq', 'tenants/acme/events/truck-1/connected')).toBe('tiq.acme._ev.truck-1.connected');
    expect(subjectOf('tiq', '$SYS/0b1c-uuid/new/clients')).toBe('tiq._ctl.takeover');
    expect(tenantSubject('tiq', 'acme')).toBe('tiq.acme.>');
    expect(controlSubject('tiq')).toBe('tiq._ctl.>');
  });

  it('keeps everything else on its node', () => {
    for (const topic of [
      '$SYS/x/heartbeat', '$SYS/x/disconnect/clients', 'tenants/acme/devices/truck-1/control/private-mode',
      'tenants/acme/events/truck-1/other', 'tenants/Acme/devices/t/location', 'tenants/acme/devices/t.x/location',
      'tenants/acme/devices/t/Loc', 'other/topic', 'tenants/acme/devices/t/>', 'tenants/_ctl/devices/t/s', '',
    ]) expect(subjectOf('tiq', topic)).toBeUndefined();
  });

  it('never puts two topics on one subject, and every subject of a tenant is under its tenant subject', () => {
    fc.assert(fc.property(id, id, stream, id, id, stream, (t1, d1, s1, t2, d2, s2) => {
      const a = subjectOf('tiq', `tenants/${t1}/devices/${d1}/${s1}`)!;
      const b = subjectOf('tiq', `tenants/${t2}/events/${d2}/connected`)!;
      expect(a.startsWith(`tiq.${t1}.`)).toBe(true);
      expect(b.startsWith(`tiq.${t2}.`)).toBe(true);
      expect(a).not.toBe(b);
      if (t1 !== t2 || d1 !== d2 || s1 !== s2) expect(a).not.toBe(subjectOf('tiq', `tenants/${t2}/devices/${d2}/${s2}`));
      expect(topicMatchesSubject('tiq', a, `tenants/${t1}/devices/${d1}/${s1}`)).toBe(true);
      expect(topicMatchesSubject('tiq', tenantSubject('tiq', t1), `tenants/${t1}/devices/${d1}/${s1}`)).toBe(false);
    }));
  });

  it('refuses a topic arriving on another tenant\'s subject', () => {
    expect(topicMatchesSubject('tiq', 'tiq.acme.t.location', 'tenants/globex/devices/t/location')).toBe(false);
  });

  it('finds the tenant of a filter only when its first two levels are literal', () => {
    expect(tenantOfFilter('tenants/acme/#')).toBe('acme');
    expect(tenantOfFilter('tenants/acme/devices/+/location')).toBe('acme');
    for (const f of ['tenants/+/#', 'tenants/#', '#', '$SYS/+/new/clients', '$share/g/tenants/acme/#', 'tenants/acme']) {
      expect(tenantOfFilter(f)).toBeUndefined();
    }
  });
});

const userProps = fc.dictionary(
  fc.string({ maxLength: 20 }).filter((k) => k !== '__proto__'),
  fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.string({ maxLength: 10 }), { minLength: 2, maxLength: 3 })),
  { maxKeys: 5 },
);

const packet: fc.Arbitrary<BusPacket> = fc.record({
  topic: fc.string({ maxLength: 200 }),
  payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
  retain: fc.boolean(),
  brokerId: fc.uuid(),
  brokerCounter: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  messageExpiry: fc.option(fc.integer({ min: 0, max: 2 ** 45 }), { nil: undefined }),
  sharesDone: fc.boolean(),
  properties: fc.option(fc.record({ messageExpiryInterval: fc.integer({ min: 1, max: 2 ** 32 - 1 }), userProperties: userProps }, { requiredKeys: [] }), { nil: undefined }),
});

function normal(p: BusPacket): unknown {
  const props = p.properties && (p.properties.userProperties || p.properties.messageExpiryInterval !== undefined) ? p.properties : undefined;
  return { ...p, properties: props, messageExpiry: p.messageExpiry, payload: [...p.payload] };
}

describe('bus packets', () => {
  it('decode to what was encoded', () => {
    fc.assert(fc.property(packet, (p) => {
      const back = decodePacket(encodePacket(p));
      expect(normal({ ...back, properties: back.properties, messageExpiry: back.messageExpiry })).toEqual(normal(p));
    }));
  });

  it('cost a few bytes more than topic and payload', () => {
    const p: BusPacket = {
      topic: 'tenants/acme/devices/truck-1/location', payload: Buffer.alloc(40), qos: 1, retain: false,
      brokerId: '5f0c8a52-8d7e-4f21-9d3c-3c4c7b0e9a11', brokerCounter: 12345,
      properties: { userProperties: { 'tiq-policy-id': 'coarse', 'tiq-policy-version': '3' } },
    };
    const size = encodePacket(p).length;
    expect(size).toBeLessThan(p.topic.length + p.payload.length + p.brokerId.length + 70);
  });

  it('refuse truncated, unknown or corrupt bytes with a codec error, never anything else', () => {
    const good = encodePacket({ topic: 'tenants/a/devices/b/c', payload: Buffer.from('x'), qos: 1, retain: false, brokerId: 'b', brokerCounter: 1 });
    for (let cut = 0; cut < good.length - 1; cut++) {
      expect(() => decodePacket(good.subarray(0, cut))).toThrow(BusCodecError);
    }
    expect(() => decodePacket(Buffer.from([9, 0, ...good.subarray(2)]))).toThrow(BusCodecError);
    expect(() => decodePacket(Buffer.from([1, 3, ...good.subarray(2)]))).toThrow(BusCodecError);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        decodePacket(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(BusCodecError);
      }
    }));
  });
});
