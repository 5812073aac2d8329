/**
 * Retryable means no PUBACK: while the keyring cannot be read or the audit
 * log cannot be written, a device's QoS 1 messages are not acknowledged, the
 * connection is closed, nothing partial is stored, and /readyz says which
 * part is down. Once it is repaired, the device resends and nothing is lost.
 */
import { appendFileSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, startGateway } from '../helpers/gateway.ts';
import { TestPki, type ClientPem } from '../helpers/pki.ts';
import { RawMqtt } from '../helpers/raw-mqtt.ts';
import { encode, VEHICLE } from '../helpers/telemetry.ts';

function readyz(port: number, pem: ClientPem): Promise<{ status: number; checks: Record<string, boolean> }> {
  return new Promise((resolve, reject) => {
    // agent: false: a fresh connection per probe, never a kept-alive socket the server may just have closed.
    const req = request({ host: '127.0.0.1', port, path: '/readyz', ca: pem.ca, servername: 'localhost', agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, checks: (JSON.parse(text) as { checks: Record<string, boolean> }).checks }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('failures of keys and audit are retryable at the MQTT edge', () => {
  const pki = new TestPki();
  let gw: Awaited<ReturnType<typeof startGateway>>;
  const keyring = () => join(pki.baseDir, 'data', 'keyring.json');
  const ready = () => readyz(gw.gateway.adminPorts.port, pki.operator('alice'));
  const count = (deviceId: string) => gw.gateway.storage.sinkFor('acme').countRecords({ tenantId: 'acme', deviceId });

  beforeAll(async () => { gw = await startGateway(pki); });
  afterAll(async () => { await gw?.gateway.close(); });

  /** Five QoS 1 messages in one write from a device with no cached data key: none may be acknowledged. */
  async function publishFiveRefused(deviceId: string, payloads: Buffer[]): Promise<void> {
    const raw = await RawMqtt.open(gw.port, pki.device('acme', deviceId));
    try {
      expect(await raw.connectAs(deviceId)).toBe(0);
      raw.send(...payloads.map((payload, i) => ({
        cmd: 'publish' as const, topic: `tenants/acme/devices/${deviceId}/location`, payload, qos: 1 as const, messageId: i + 1, dup: false, retain: false,
      })));
      expect(await raw.waitFor(() => raw.closed, 10_000)).toBe(true);
      expect(raw.pubacks()).toEqual([]);
    } finally {
      raw.end();
    }
    expect(await count(deviceId)).toBe(0);
  }

  /** The device comes back and resends what was never acknowledged. */
  async function resendAll(deviceId: string, payloads: Buffer[]): Promise<void> {
    const device = await connect(gw.port, pki.device('acme', deviceId), { clientId: deviceId });
    try {
      for (const p of payloads) await device.publishAsync(`tenants/acme/devices/${deviceId}/location`, p, { qos: 1 });
    } finally {
      await device.endAsync();
    }
    expect(await count(deviceId)).toBe(payloads.length);
  }

  const fixes = (n: number) => Array.from({ length: n }, (_, i) => encode(VEHICLE, { timeUnixMs: Date.now() - 1000 + i, sequence: i + 1, latitude: 45, longitude: 7 }));

  it('a corrupt keyring: no PUBACK, connection closed, /readyz keys false; all stored after repair and resend', async () => {
    expect((await ready()).checks['keys']).toBe(true);
    const good = readFileSync(keyring());
    writeFileSync(keyring(), '{"format":"thingiq.keyring","version":1,"iv":"AAAA","tag":"AAAA","ciphertext":"AAAA"}\n', { mode: 0o600 });
    try {
      const r = await ready();
      expect(r.status).toBe(503);
      expect(r.checks).toMatchObject({ keys: false, storage: true });
      const payloads = fixes(5);
      await publishFiveRefused('truck-5', payloads);
      expect(await gw.gateway.stats.refusalCount('TIQ_ERR_KEYRING_SEALED')).toBeGreaterThanOrEqual(1);
      writeFileSync(keyring(), good, { mode: 0o600 });
      expect((await ready()).status).toBe(200);
      await resendAll('truck-5', payloads);
    } finally {
      writeFileSync(keyring(), good, { mode: 0o600 });
    }
  });

  it('an unreadable keyring (chmod 000): the same, whichever user the gateway runs as', async () => {
    chmodSync(keyring(), 0o000);
    try {
      expect((await ready()).checks['keys']).toBe(false);
      const payloads = fixes(5);
      await publishFiveRefused('truck-6', payloads);
      chmodSync(keyring(), 0o600);
      expect((await ready()).checks['keys']).toBe(true);
      await resendAll('truck-6', payloads);
    } finally {
      chmodSync(keyring(), 0o600);
    }
  });

  it('an audit log that cannot be written: a private-mode command is not acknowledged until it is audited', async () => {
    const log = join(pki.baseDir, 'data', 'audit', 'audit.jsonl');
    const topic = 'tenants/acme/devices/truck-7/control/private-mode';
    expect((await ready()).checks['audit']).toBe(true);
    const before = readFileSync(log);
    appendFileSync(log, '{"torn');
    try {
      expect((await ready()).checks['audit']).toBe(false);
      const raw = await RawMqtt.open(gw.port, pki.device('acme', 'truck-7'));
      try {
        expect(await raw.connectAs('truck-7')).toBe(0);
        raw.send({ cmd: 'publish', topic, payload: Buffer.from('on'), qos: 1, messageId: 1, dup: false, retain: false });
        expect(await raw.waitFor(() => raw.closed, 10_000)).toBe(true);
        expect(raw.pubacks()).toEqual([]);
      } finally {
        raw.end();
      }
      expect(await gw.gateway.stats.refusalCount('TIQ_ERR_AUDIT')).toBe(1);
    } finally {
      writeFileSync(log, before, { mode: 0o600 });
    }
    expect((await ready()).checks['audit']).toBe(true);
    // The resend is no longer a change of mode, but its audit entry is still owed: written now.
    const device = await connect(gw.port, pki.device('acme', 'truck-7'), { clientId: 'truck-7' });
    await device.publishAsync(topic, 'on', { qos: 1 });
    await device.endAsync();
    const entries = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string });
    expect(entries.filter((e) => e.action === 'private-mode.on')).toHaveLength(1);
  });
});
