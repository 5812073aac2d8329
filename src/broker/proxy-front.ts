/**
 * The MQTT port behind a load balancer in TCP mode (`mqtt.proxyProtocol`):
 * a plain TCP server reads the PROXY protocol v2 header the balancer sends
 * before anything of the client's (so before its TLS ClientHello), then
 * hands the socket, with the bytes that followed the header put back, to
 * the TLS server as if it had accepted it. The socket (and later the TLS
 * socket) reports the client's address from the header as its
 * remoteAddress, so the per-address connection limit, peer identity, logs
 * and lifecycle events see the device, not the balancer.
 *
 * A connection from outside `mqtt.proxyProtocolFrom`, or without a valid
 * header within the TLS handshake timeout, is closed (TIQ_ERR_PROXY_PROTOCOL,
 * logged with the reason and counted). A LOCAL header (the balancer's own
 * health check) keeps the real endpoints; one that closes right after its
 * header is not an error, nor is a connection closed before its first byte
 * (a TCP health check).
 */
import { BlockList, createServer, isIPv4, type Server, type Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { Logger } from '../log.ts';
import { parseProxyHeader, type ProxyEndpoint } from './proxy-protocol.ts';
import type { GatewayStats } from './stats.ts';

export interface ProxyFrontOptions {
  /** Gets each socket once its header is read; it never listens itself. */
  readonly tls: TlsServer;
  /** Balancer addresses (CIDR or single addresses) allowed to connect; absent: any. */
  readonly allowFrom: readonly string[] | undefined;
  /** Header (and first byte after it) must arrive within this. */
  readonly timeoutMs: number;
  readonly log: Logger;
  readonly stats: GatewayStats;
  /** TCP_NODELAY on accepted sockets: the TLS server behind sees them only after the header, too late for its own option. */
  readonly noDelay: boolean;
}

const CODE = 'TIQ_ERR_PROXY_PROTOCOL';

export function createProxyFront(o: ProxyFrontOptions): Server {
  const allowed = o.allowFrom && allowList(o.allowFrom);
  // Anyone reaching the port could then claim any address (and so dodge the per-address limit).
  if (!allowed) o.log.warn({ event: 'proxy_protocol_any_source' }, 'mqtt.proxyProtocol is on without mqtt.proxyProtocolFrom: a PROXY header is accepted from any source address');
  return createServer({ noDelay: o.noDelay }, (raw) => {
    const from = raw.remoteAddress ?? '';
    const refuse = (reason: string): void => {
      o.stats.refused(CODE);
      o.log.warn({ event: 'proxy_refused', code: CODE, reason, remoteAddress: from }, 'connection refused: PROXY protocol');
      raw.destroy();
    };
    if (allowed && !allowed(from)) return refuse('source address not in mqtt.proxyProtocolFrom');
    readHeader(raw, o, refuse);
  });
}

function readHeader(raw: Socket, o: ProxyFrontOptions, refuse: (reason: string) => void): void {
  let buffered: Buffer = Buffer.alloc(0);
  let header: { endpoint: ProxyEndpoint | undefined; length: number } | undefined;
  const timer = setTimeout(() => {
    stop();
    refuse(header ? 'no data after the PROXY header' : `no PROXY header within ${o.timeoutMs} ms`);
  }, o.timeoutMs);
  const stop = (): void => {
    clearTimeout(timer);
    raw.off('data', onData);
    raw.off('close', onClose);
  };
  const onClose = (): void => {
    stop();
    // A LOCAL health check, or a client that left, before sending anything past the header; or a bare TCP
    // check (connect, close, no byte): nothing to refuse.
    if (header || buffered.length === 0) return;
    refuse('closed before a complete PROXY header');
  };
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    if (!header) {
      const parsed = parseProxyHeader(buffered);
      if (parsed.status === 'incomplete') return;
      if (parsed.status === 'invalid') return void (stop(), refuse(parsed.reason));
      header = { endpoint: parsed.header.command === 'proxy' ? parsed.header.source : undefined, length: parsed.length };
    }
    const rest = buffered.subarray(header.length);
    // Wait for the client's first byte: a header alone (a health check that closes) never reaches TLS.
    if (rest.length === 0) return;
    stop();
    raw.pause();
    raw.unshift(rest);
    if (header.endpoint) presentAs(raw, header.endpoint);
    // Node's TLS server wraps the socket and reads what was put back first (_tls_wrap: "buffered data").
    o.tls.emit('connection', raw);
  };
  raw.on('data', onData);
  raw.on('close', onClose);
  // Errors before the hand-over (a reset) end in 'close'; after it the TLS socket handles them.
  raw.on('error', () => raw.destroy());
}

/** Proxied endpoints by raw socket, for the TLS socket made on it. */
const proxied = new WeakMap<object, ProxyEndpoint>();

function presentAs(socket: Socket, ep: ProxyEndpoint): void {
  proxied.set(socket, ep);
  Object.defineProperties(socket, {
    remoteAddress: { value: ep.address, configurable: true },
    remotePort: { value: ep.port, configurable: true },
    remoteFamily: { value: ep.family, configurable: true },
  });
}

/**
 * Gives a TLS socket made on a proxied socket the client's address. Node's
 * TLS socket asks the operating system for its peer (the balancer); its
 * `_parent` is the socket it wraps (the same private field the listener
 * uses to tie handshake errors to refused sockets).
 */
export function adoptProxiedAddress(tlsSocket: Socket): void {
  const raw = (tlsSocket as unknown as { _parent?: object })._parent;
  const ep = raw && proxied.get(raw);
  if (ep) presentAs(tlsSocket, ep);
}

/** A check of source addresses against CIDR blocks; IPv4-mapped IPv6 addresses are checked as IPv4. */
export function allowList(entries: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const [net = '', prefix] = entry.split('/');
    const family = isIPv4(net) ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(net, family);
    else list.addSubnet(net, Number(prefix), family);
  }
  return (address) => {
    const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    if (v4) return list.check(v4, 'ipv4');
    return list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
  };
}
