/**
 * `mqtt.tcpNoDelay`: every socket the gateway accepts for MQTT (the TLS
 * listener, its PROXY front, both WebSocket listeners) has Nagle's algorithm
 * off by default, so a PUBACK or a delivery leaves at once instead of waiting
 * for the peer to acknowledge the previous segment (docs/benchmark.md: the
 * PUBACK latency it cost at 4,000 msgs/s). Real gateway, real sockets; the
 * flag is read off each accepted socket, where Node records setNoDelay.
 */
import { connect as netConnect, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connect } from '../helpers/gateway.ts';
import { useGatewayPerTest, type StartedGateway } from '../helpers/gateway-rigs.ts';
import { encodeProxyHeader, startRelay } from '../helpers/proxy-header.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const { pki, start, defer } = useGatewayPerTest();

/** Node keeps the TCP_NODELAY state of a socket under this symbol (net.Socket#setNoDelay). */
function noDelayOf(socket: Socket): boolean {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay');
  if (!key) throw new Error('this Node no longer records setNoDelay on the socket');
  return (socket as unknown as Record<symbol, unknown>)[key] === true;
}

interface Listeners { readonly server: Server; readonly wsServers: { readonly token: Server; readonly mtls: Server | undefined } | undefined }
const listenersOf = (gw: StartedGateway): Listeners => gw.gateway as unknown as Listeners;

/** The next socket `server` accepts. */
function nextAccepted(server: Server): Promise<Socket> {
  return new Promise((resolve) => server.once('connection', resolve));
}

/** Opens a plain TCP connection to `port` and returns the gateway's side of it. */
async function acceptedBy(server: Server, port: number): Promise<Socket> {
  const accepted = nextAccepted(server);
  const client = netConnect(port, '127.0.0.1');
  client.on('error', () => undefined);
  defer(() => client.destroy());
  return accepted;
}

describe('mqtt.tcpNoDelay', () => {
  it('is on by default for MQTT over TLS, and a device connects and publishes through it', async () => {
    const running = await start();
    const { server } = listenersOf(running);
    const accepted = nextAccepted(server);
    const device = await connect(running.port, pki.device('acme', 'nd-1'), { clientId: 'nd-1' });
    defer(() => device.end(true));
    expect(noDelayOf(await accepted)).toBe(true);
    await device.publishAsync('tenants/acme/devices/nd-1/location', encode(VEHICLE, vehicle()), { qos: 1 });
    expect(await running.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId: 'nd-1' })).toBe(1);
  });

  it('off: accepted sockets keep Nagle', async () => {
    const running = await start({ mqtt: { tcpNoDelay: false } });
    const { server } = listenersOf(running);
    expect(noDelayOf(await acceptedBy(server, running.port))).toBe(false);
  });

  it('behind the PROXY front: the front sets it on the sockets it accepts (the TLS server sees them too late)', async () => {
    const running = await start({ mqtt: { proxyProtocol: true } });
    const { server } = listenersOf(running);
    const relay = await startRelay(running.port, () => encodeProxyHeader({
      command: 'proxy', source: { address: '203.0.113.9', port: 40000, family: 'IPv4' }, destination: { address: '127.0.0.1', port: 8883, family: 'IPv4' },
    }), { coalesce: true });
    defer(relay.close);
    const accepted = nextAccepted(server);
    const device = await connect(relay.port, pki.device('acme', 'nd-2'), { clientId: 'nd-2', servername: 'localhost' });
    defer(() => device.end(true));
    expect(noDelayOf(await accepted)).toBe(true);
  });

  it('covers both WebSocket listeners, and off turns it off there too', async () => {
    const running = await start({ websocket: { enabled: true, port: 0, mtlsPort: 0 } });
    const on = listenersOf(running).wsServers!;
    const ports = running.gateway.wsPorts;
    expect(noDelayOf(await acceptedBy(on.token, ports.port!))).toBe(true);
    expect(noDelayOf(await acceptedBy(on.mtls!, ports.mtlsPort!))).toBe(true);
    await running.gateway.close();

    const again = await start({ mqtt: { tcpNoDelay: false }, websocket: { enabled: true, port: 0, mtlsPort: 0 } });
    const off = listenersOf(again).wsServers!;
    const offPorts = again.gateway.wsPorts;
    expect(noDelayOf(await acceptedBy(off.token, offPorts.port!))).toBe(false);
    expect(noDelayOf(await acceptedBy(off.mtls!, offPorts.mtlsPort!))).toBe(false);
  });
});
