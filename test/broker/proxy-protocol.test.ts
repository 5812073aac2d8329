/** The PROXY protocol v2 header parser: the layouts HAProxy sends, the bounds, and every way a header can be wrong. */
import { SocketAddress } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_PROXY_PAYLOAD_BYTES, parseProxyHeader, PROXY_V2_SIGNATURE } from '../../src/broker/proxy-protocol.ts';
import { encodeProxyHeader } from '../helpers/proxy-header.ts';

const v4 = { command: 'proxy', source: { address: '203.0.113.7', port: 51234, family: 'IPv4' }, destination: { address: '10.0.0.2', port: 8883, family: 'IPv4' } } as const;
const v6 = { command: 'proxy', source: { address: '2001:db8::7', port: 40000, family: 'IPv6' }, destination: { address: '2001:db8::1', port: 8883, family: 'IPv6' } } as const;
const clientHello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8]);

function withFixed(byte12: number, byte13: number, body: Buffer): Buffer {
  const fixed = Buffer.alloc(16);
  PROXY_V2_SIGNATURE.copy(fixed);
  fixed[12] = byte12;
  fixed[13] = byte13;
  fixed.writeUInt16BE(body.length, 14);
  return Buffer.concat([fixed, body]);
}

describe('PROXY protocol v2 header', () => {
  it('reads TCP over IPv4 and says where the client stream starts', () => {
    const header = encodeProxyHeader(v4);
    const r = parseProxyHeader(Buffer.concat([header, clientHello]));
    expect(r).toEqual({ status: 'ok', header: v4, length: header.length });
    expect(header.length).toBe(28);
  });

  it('reads TCP over IPv6, written as Node writes remote addresses', () => {
    const r = parseProxyHeader(encodeProxyHeader(v6));
    expect(r.status === 'ok' && r.header).toEqual(v6);
    const mapped = { ...v6, source: { address: '::ffff:198.51.100.9', port: 1, family: 'IPv6' } } as const;
    const m = parseProxyHeader(encodeProxyHeader(mapped));
    expect(m.status === 'ok' && m.header.command === 'proxy' && m.header.source.address).toBe('::ffff:198.51.100.9');
  });

  it('skips TLVs after the addresses', () => {
    // PP2_TYPE_ALPN "mqtt", PP2_TYPE_UNIQUE_ID of 32 bytes.
    const tlvs = Buffer.concat([Buffer.from([0x01, 0x00, 0x04]), Buffer.from('mqtt'), Buffer.from([0x05, 0x00, 0x20]), Buffer.alloc(32, 7)]);
    const header = encodeProxyHeader(v4, tlvs);
    const r = parseProxyHeader(Buffer.concat([header, clientHello]));
    expect(r.status === 'ok' && r.length).toBe(header.length);
    expect(r.status === 'ok' && r.header).toEqual(v4);
  });

  it('accepts LOCAL (a health check) whatever its address block, with no endpoints', () => {
    expect(parseProxyHeader(encodeProxyHeader({ command: 'local' }))).toEqual({ status: 'ok', header: { command: 'local' }, length: 16 });
    const local = withFixed(0x20, 0x11, Buffer.alloc(12, 1));
    expect(parseProxyHeader(local)).toEqual({ status: 'ok', header: { command: 'local' }, length: 28 });
  });

  it('waits for more bytes while they can still make a header', () => {
    const header = encodeProxyHeader(v6);
    for (let n = 0; n < header.length; n++) expect(parseProxyHeader(header.subarray(0, n)).status).toBe('incomplete');
  });

  it('refuses a stream that does not start with the signature (TLS first, version 1 text), at once', () => {
    expect(parseProxyHeader(clientHello).status).toBe('invalid');
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.2 51234 8883\r\n'))).toEqual({ status: 'invalid', reason: 'PROXY protocol version 1 is not accepted' });
    expect(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0b])).status).toBe('invalid');
  });

  it('refuses other versions, commands, families and transports, and short address blocks', () => {
    const addr = encodeProxyHeader(v4).subarray(16);
    expect(parseProxyHeader(withFixed(0x11, 0x11, addr)).status).toBe('invalid'); // version 1 in binary
    expect(parseProxyHeader(withFixed(0x31, 0x11, addr)).status).toBe('invalid'); // version 3
    expect(parseProxyHeader(withFixed(0x22, 0x11, addr)).status).toBe('invalid'); // command 2
    expect(parseProxyHeader(withFixed(0x21, 0x12, addr)).status).toBe('invalid'); // UDP
    expect(parseProxyHeader(withFixed(0x21, 0x31, Buffer.alloc(216))).status).toBe('invalid'); // UNIX
    expect(parseProxyHeader(withFixed(0x21, 0x01, addr)).status).toBe('invalid'); // PROXY with UNSPEC family
    expect(parseProxyHeader(withFixed(0x21, 0x11, addr.subarray(0, 11))).status).toBe('invalid');
    expect(parseProxyHeader(withFixed(0x21, 0x21, Buffer.alloc(35))).status).toBe('invalid');
  });

  it('refuses a header announcing more than the bound before its bytes arrive', () => {
    const fixed = withFixed(0x21, 0x11, Buffer.alloc(0));
    fixed.writeUInt16BE(MAX_PROXY_PAYLOAD_BYTES + 1, 14);
    expect(parseProxyHeader(fixed).status).toBe('invalid');
    const atBound = withFixed(0x21, 0x11, Buffer.concat([encodeProxyHeader(v4).subarray(16), Buffer.alloc(MAX_PROXY_PAYLOAD_BYTES - 12)]));
    expect(parseProxyHeader(atBound).status).toBe('ok');
  });

  it('round-trips any TCP source and destination, and any split of the bytes', () => {
    const endpoint = fc.oneof(
      fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 65535 })).map(([address, port]) => ({ address, port, family: 'IPv4' as const })),
      fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 65535 })).map(([address, port]) => ({ address: new SocketAddress({ address, family: 'ipv6' }).address, port, family: 'IPv6' as const })),
    );
    const pair = endpoint.chain((source) => endpoint.filter((d) => d.family === source.family).map((destination) => ({ command: 'proxy' as const, source, destination })));
    fc.assert(fc.property(pair, fc.uint8Array({ maxLength: 64 }), fc.nat(), (header, tlv, cut) => {
      // One TLV of type 0xE0 (custom range) holding the random bytes.
      const tlvs = Buffer.concat([Buffer.from([0xe0, tlv.length >> 8, tlv.length & 0xff]), Buffer.from(tlv)]);
      const bytes = Buffer.concat([encodeProxyHeader(header, tlvs), clientHello]);
      const r = parseProxyHeader(bytes);
      expect(r).toEqual({ status: 'ok', header, length: bytes.length - clientHello.length });
      const at = cut % (bytes.length - clientHello.length);
      expect(parseProxyHeader(bytes.subarray(0, at)).status).toBe('incomplete');
    }));
  });

  it('never throws on arbitrary bytes, and never waits past the bound', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 4 }), (tail, fixed) => {
      const bytes = Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from(fixed), Buffer.from(tail)]);
      const r = parseProxyHeader(bytes);
      if (r.status === 'incomplete') expect(bytes.length < 16 || bytes.readUInt16BE(14) + 16 > bytes.length).toBe(true);
      if (r.status === 'ok') expect(r.length).toBeLessThanOrEqual(16 + MAX_PROXY_PAYLOAD_BYTES);
      expect(parseProxyHeader(Buffer.from(tail)).status).not.toBe('ok');
    }));
  });
});
