/**
 * The PROXY protocol version 2 header (HAProxy's `send-proxy-v2`; spec:
 * https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt, section 2.2),
 * which a load balancer in TCP mode sends first on each connection so the
 * server learns the client's address. Binary layout:
 *
 *   12 bytes  signature \r\n\r\n\0\r\nQUIT\n
 *    1 byte   version (high nibble, must be 2) and command (0 LOCAL, 1 PROXY)
 *    1 byte   address family (high nibble) and transport (low nibble)
 *    2 bytes  length of what follows, network order
 *   addresses (IPv4: 4+4+2+2 bytes, IPv6: 16+16+2+2), then TLVs (skipped)
 *
 * Only what an MQTT listener can use is accepted: LOCAL (the balancer's own
 * health check: the real connection endpoints apply), or PROXY of TCP over
 * IPv4 or IPv6. Version 1 (text), UDP, UNIX sockets and unknown commands
 * are refused.
 */

import { SocketAddress } from 'node:net';

export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const FIXED_BYTES = 16;
/**
 * Most bytes of addresses and TLVs accepted after the fixed part. The spec
 * allows 65535; a balancer in TCP mode sends addresses and a few small TLVs
 * (ALPN, authority, unique id), so this bounds what an unauthenticated
 * peer makes the gateway hold.
 */
export const MAX_PROXY_PAYLOAD_BYTES = 2048;

const IPV4_BYTES = 12;
const IPV6_BYTES = 36;

export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

export type ProxyHeader =
  | { readonly command: 'local' }
  | { readonly command: 'proxy'; readonly source: ProxyEndpoint; readonly destination: ProxyEndpoint };

export type ProxyParse =
  /** More bytes are needed (never returned once `MAX_PROXY_PAYLOAD_BYTES` are exceeded). */
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid'; readonly reason: string }
  /** `length`: bytes of the header; what follows them is the client's own stream (its TLS ClientHello). */
  | { readonly status: 'ok'; readonly header: ProxyHeader; readonly length: number };

const INCOMPLETE: ProxyParse = { status: 'incomplete' };

/** Parses a header at the start of `buf`; as soon as the bytes seen can no longer be one, says why. */
export function parseProxyHeader(buf: Buffer): ProxyParse {
  const seen = Math.min(buf.length, PROXY_V2_SIGNATURE.length);
  if (!buf.subarray(0, seen).equals(PROXY_V2_SIGNATURE.subarray(0, seen))) {
    return invalid(buf.subarray(0, 6).toString('latin1') === 'PROXY ' ? 'PROXY protocol version 1 is not accepted' : 'no PROXY protocol v2 signature');
  }
  if (buf.length < FIXED_BYTES) return INCOMPLETE;
  const version = buf[12]! >> 4;
  const command = buf[12]! & 0x0f;
  if (version !== 2) return invalid(`version ${version}`);
  if (command > 1) return invalid(`command ${command}`);
  const payload = buf.readUInt16BE(14);
  if (payload > MAX_PROXY_PAYLOAD_BYTES) return invalid(`${payload} bytes of addresses and TLVs (at most ${MAX_PROXY_PAYLOAD_BYTES})`);
  const length = FIXED_BYTES + payload;
  if (buf.length < length) return INCOMPLETE;
  // LOCAL: "the receiver must accept this connection as valid and must use the real connection endpoints and discard the protocol block".
  if (command === 0) return { status: 'ok', header: { command: 'local' }, length };
  const addresses = endpoints(buf[13]!, buf.subarray(FIXED_BYTES, length));
  if (typeof addresses === 'string') return invalid(addresses);
  return { status: 'ok', header: { command: 'proxy', ...addresses }, length };
}

/** The source and destination of a PROXY command, or why they are not usable. */
function endpoints(familyByte: number, body: Buffer): { source: ProxyEndpoint; destination: ProxyEndpoint } | string {
  const family = familyByte >> 4;
  const transport = familyByte & 0x0f;
  if (transport !== 1) return `transport ${transport} (only TCP, 1)`;
  if (family === 1) {
    if (body.length < IPV4_BYTES) return `${body.length} bytes for IPv4 addresses (needs ${IPV4_BYTES})`;
    return {
      source: { address: ipv4(body.subarray(0, 4)), port: body.readUInt16BE(8), family: 'IPv4' },
      destination: { address: ipv4(body.subarray(4, 8)), port: body.readUInt16BE(10), family: 'IPv4' },
    };
  }
  if (family === 2) {
    if (body.length < IPV6_BYTES) return `${body.length} bytes for IPv6 addresses (needs ${IPV6_BYTES})`;
    return {
      source: { address: ipv6(body.subarray(0, 16)), port: body.readUInt16BE(32), family: 'IPv6' },
      destination: { address: ipv6(body.subarray(16, 32)), port: body.readUInt16BE(34), family: 'IPv6' },
    };
  }
  return `address family ${family} (only IPv4, 1, and IPv6, 2)`;
}

function invalid(reason: string): ProxyParse {
  return { status: 'invalid', reason };
}

function ipv4(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** The address as Node writes a socket's remoteAddress (inet_ntop: RFC 5952 compression, ::ffff:a.b.c.d). */
function ipv6(b: Buffer): string {
  const full = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':');
  return new SocketAddress({ address: full, family: 'ipv6' }).address;
}
