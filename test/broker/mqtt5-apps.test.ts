/**
 * MQTT 5 applications (docs/mqtt5.md): SUBACK reason codes, subscription
 * options (no-local, retain-as-published, retain handling), subscription
 * identifiers, the applied policy and only the allowed user properties on
 * forwarded messages, and message expiry on fan-out. Real mqtt.js v5 clients.
 */
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientOptions, connect, sleep, startGateway, subackCode, TEST_TENANTS } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const V5 = { protocolVersion: 5 } as const;
const pki = new TestPki();
let gw: Awaited<ReturnType<typeof startGateway>>;
const open: MqttClient[] = [];

async function client(pem: ReturnType<TestPki['device']>, extra: Record<string, unknown> = {}): Promise<MqttClient> {
  const c = await connect(gw.port, pem, { ...V5, ...extra });
  open.push(c);
  return c;
}

/** Packets received by a client, and a wait for the n-th. */
function collect(c: MqttClient) {
  const got: IPublishPacket[] = [];
  c.on('message', (_t, _p, packet) => got.push(packet));
  return {
    got,
    async next(n: number, timeoutMs = 5000): Promise<IPublishPacket[]> {
      const deadline = Date.now() + timeoutMs;
      while (got.length < n && Date.now() < deadline) await sleep(25);
      return got.slice(0, n);
    },
  };
}

const loc = (deviceId: string) => `tenants/acme/devices/${deviceId}/location`;

beforeAll(async () => {
  gw = await startGateway(pki, { tenants: { ...TEST_TENANTS, acme: { ...TEST_TENANTS.acme, forwardUserProperties: ['site'] } } });
});
afterAll(async () => {
  for (const c of open) c.end(true);
  await gw?.gateway.close();
});

describe('MQTT 5 app: SUBACK reason codes', () => {
  it('0x87 for a filter outside the tenant, granted QoS for its own and for a $share filter within it', async () => {
    const app = await client(pki.app('acme', 'dashboard'), { clientId: 'sa-1' });
    expect(await subackCode(app, 'tenants/globex/#')).toBe(0x87);
    expect(await subackCode(app, '#')).toBe(0x87);
    expect(await subackCode(app, 'tenants/acme/devices/+/location')).toBe(1);
    expect(await subackCode(app, '$share/g1/tenants/acme/devices/+/location')).toBe(1);
    expect(await subackCode(app, '$share/g1/tenants/globex/#')).toBe(0x87);
  });

  it('a device subscribing is refused with 0x87 and stays connected', async () => {
    const dev = await client(pki.device('acme', 'sub-dev'), { clientId: 'sub-dev' });
    expect(await subackCode(dev, loc('sub-dev'))).toBe(0x87);
    expect(dev.connected).toBe(true);
  });
});

describe('MQTT 5 app: forwarded messages', () => {
  it('carry the applied policy as user properties and only the device user properties the tenant allows', async () => {
    const app = await client(pki.app('acme', 'dashboard'), { clientId: 'fw-1' });
    const inbox = collect(app);
    await app.subscribeAsync(loc('fw-dev'), { qos: 1 });
    const dev = await client(pki.device('acme', 'fw-dev'), { clientId: 'fw-dev' });
    await dev.publishAsync(loc('fw-dev'), encode(VEHICLE, vehicle()), {
      qos: 1, properties: { userProperties: { site: 'depot-4', owner: 'alice@example.com' }, contentType: 'x/secret', responseTopic: 'tenants/acme/x' },
    });
    const [msg] = await inbox.next(1);
    const props = msg!.properties!;
    expect(props.userProperties).toMatchObject({ site: 'depot-4', 'thingiq-policy-id': expect.any(String), 'thingiq-policy-version': expect.any(String) });
    expect(props.userProperties).not.toHaveProperty('owner');
    expect(props.contentType).toBeUndefined();
    expect(props.responseTopic).toBeUndefined();
  });

  it('a 3.1.1 device\'s messages carry the policy properties to a v5 app too', async () => {
    const app = await client(pki.app('acme', 'dashboard'), { clientId: 'fw-2' });
    const inbox = collect(app);
    await app.subscribeAsync(loc('fw-v3'), { qos: 1 });
    const dev = await connect(gw.port, pki.device('acme', 'fw-v3'), { clientId: 'fw-v3' });
    open.push(dev);
    await dev.publishAsync(loc('fw-v3'), encode(VEHICLE, vehicle()), { qos: 1 });
    const [msg] = await inbox.next(1);
    expect(Object.keys(msg!.properties?.userProperties ?? {}).sort()).toEqual(['thingiq-policy-id', 'thingiq-policy-version']);
  });

  it('echo the subscription identifier', async () => {
    const app = await client(pki.app('acme', 'dashboard'), { clientId: 'si-1' });
    const inbox = collect(app);
    await app.subscribeAsync(loc('si-dev'), { qos: 1, properties: { subscriptionIdentifier: 42 } });
    const dev = await client(pki.device('acme', 'si-dev'), { clientId: 'si-dev' });
    await dev.publishAsync(loc('si-dev'), encode(VEHICLE, vehicle()), { qos: 1 });
    const [msg] = await inbox.next(1);
    expect(msg!.properties?.subscriptionIdentifier).toBe(42);
  });

  it('no-local is accepted and changes nothing for an app, which does not publish', async () => {
    const app = await client(pki.app('acme', 'dashboard'), { clientId: 'nl-1' });
    const inbox = collect(app);
    const granted = await app.subscribeAsync(loc('nl-dev'), { qos: 1, nl: true });
    expect(granted[0]?.qos).toBe(1);
    const dev = await client(pki.device('acme', 'nl-dev'), { clientId: 'nl-dev' });
    await dev.publishAsync(loc('nl-dev'), encode(VEHICLE, vehicle()), { qos: 1 });
    expect(await inbox.next(1)).toHaveLength(1);
  });
});

describe('MQTT 5 app: retained messages and subscription options', () => {
  beforeAll(async () => {
    const dev = await client(pki.device('acme', 'rt-dev'), { clientId: 'rt-dev' });
    await dev.publishAsync(loc('rt-dev'), encode(VEHICLE, vehicle()), { qos: 1, retain: true });
  });

  it('retain handling 0 sends the retained message on subscribe; 2 does not; 1 only for a new subscription', async () => {
    const rh0 = await client(pki.app('acme', 'dashboard'), { clientId: 'rh-0' });
    const in0 = collect(rh0);
    await rh0.subscribeAsync(loc('rt-dev'), { qos: 1, rh: 0 });
    expect((await in0.next(1))[0]?.retain).toBe(true);

    const rh2 = await client(pki.app('acme', 'dashboard'), { clientId: 'rh-2' });
    const in2 = collect(rh2);
    await rh2.subscribeAsync(loc('rt-dev'), { qos: 1, rh: 2 });
    expect(await in2.next(1, 1000)).toHaveLength(0);

    const rh1 = await client(pki.app('acme', 'dashboard'), { clientId: 'rh-1' });
    const in1 = collect(rh1);
    await rh1.subscribeAsync(loc('rt-dev'), { qos: 1, rh: 1 });
    expect(await in1.next(1)).toHaveLength(1);
    await rh1.subscribeAsync(loc('rt-dev'), { qos: 1, rh: 1 });
    expect(await in1.next(2, 1000)).toHaveLength(1);
  });

  it('retain-as-published keeps the retain flag on live delivery; without it the flag is cleared', async () => {
    const rap = await client(pki.app('acme', 'dashboard'), { clientId: 'rap-1' });
    const plain = await client(pki.app('acme', 'dashboard'), { clientId: 'rap-0' });
    const inRap = collect(rap);
    const inPlain = collect(plain);
    await rap.subscribeAsync(loc('rap-dev'), { qos: 1, rap: true, rh: 2 });
    await plain.subscribeAsync(loc('rap-dev'), { qos: 1, rap: false, rh: 2 });
    const dev = await client(pki.device('acme', 'rap-dev'), { clientId: 'rap-dev' });
    await dev.publishAsync(loc('rap-dev'), encode(VEHICLE, vehicle()), { qos: 1, retain: true });
    expect((await inRap.next(1))[0]?.retain).toBe(true);
    expect((await inPlain.next(1))[0]?.retain).toBe(false);
  });
});

describe('MQTT 5 app: message expiry on fan-out', () => {
  it('a message that expired while the app was away is not delivered; one still alive comes with its remaining lifetime', async () => {
    const session = { clientId: 'exp-1', clean: false, properties: { sessionExpiryInterval: 300 } };
    const first = await client(pki.app('acme', 'dashboard'), session);
    await first.subscribeAsync(loc('exp-dev'), { qos: 1 });
    first.end(true);
    const dev = await client(pki.device('acme', 'exp-dev'), { clientId: 'exp-dev' });
    await dev.publishAsync(loc('exp-dev'), encode(VEHICLE, vehicle({ speedMps: 1 })), { qos: 1, properties: { messageExpiryInterval: 1 } });
    await dev.publishAsync(loc('exp-dev'), encode(VEHICLE, vehicle({ speedMps: 2 })), { qos: 1, properties: { messageExpiryInterval: 600 } });
    await sleep(2200);
    // The queued messages follow the CONNACK at once: listen before connecting.
    const again = mqtt.connect(clientOptions(gw.port, pki.app('acme', 'dashboard'), { ...V5, ...session }));
    open.push(again);
    const inbox = collect(again);
    const got = await inbox.next(2, 2000);
    expect(got).toHaveLength(1);
    const interval = got[0]!.properties?.messageExpiryInterval ?? 0;
    expect(interval).toBeGreaterThan(590);
    expect(interval).toBeLessThanOrEqual(600);
  });

  it('a 3.1.1 app\'s persistent session gets what was queued while it was away', async () => {
    const session = { clientId: 'q311-1', clean: false };
    const first = await connect(gw.port, pki.app('acme', 'dashboard'), session);
    await first.subscribeAsync(loc('q311-dev'), { qos: 1 });
    first.end(true);
    const dev = await client(pki.device('acme', 'q311-dev'), { clientId: 'q311-dev' });
    await dev.publishAsync(loc('q311-dev'), encode(VEHICLE, vehicle()), { qos: 1 });
    const again = mqtt.connect(clientOptions(gw.port, pki.app('acme', 'dashboard'), session));
    open.push(again);
    const inbox = collect(again);
    expect(await inbox.next(1)).toHaveLength(1);
  });
});
