/**
 * The catalogue's promise to devices: a code marked retryable is never
 * acknowledged (MQTT 3.1.1 has no negative PUBACK, so a PUBACK would tell the
 * device to forget a message it should resend), and a code whose documented
 * outcome is "no PUBACK (device resends)" is retryable. Checked three ways:
 * the catalogue itself, the README's error table, and a real gateway whose
 * pipeline fails with each retryable code in turn.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, TiqError, type ErrorCode } from '../../src/errors.ts';
import { startGateway } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { RawMqtt } from '../helpers/raw-mqtt.ts';
import { encode, vehicle, VEHICLE } from '../helpers/telemetry.ts';

const CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];
const RETRYABLE = CODES.filter((c) => ERROR_CATALOGUE[c].retryable);

/** Outcomes under which the device gets no PUBACK for the message and so sends it again. */
const NOT_ACKNOWLEDGED = new Set(['not-acknowledged', 'disconnect', 'connack-refused']);

describe('error catalogue: retryable flag against MQTT outcome', () => {
  it.each(CODES)('%s', (code) => {
    const { retryable, mqtt } = ERROR_CATALOGUE[code];
    if (mqtt === 'not-acknowledged') expect(retryable).toBe(true);
    if (mqtt === 'acknowledged-dropped') expect(retryable).toBe(false);
    // A retryable code must reach the device as something it comes back from
    // ('none': a code of the admin API or the CLI only, never sent to a device).
    if (retryable && mqtt !== 'none') expect(NOT_ACKNOWLEDGED.has(mqtt)).toBe(true);
  });

  it('every key, storage and audit failure is retryable', () => {
    for (const code of ['TIQ_ERR_KEY_UNAVAILABLE', 'TIQ_ERR_KEYRING_SEALED', 'TIQ_ERR_STORE_UNAVAILABLE', 'TIQ_ERR_AUDIT'] as const) {
      expect(ERROR_CATALOGUE[code]).toMatchObject({ retryable: true, mqtt: 'not-acknowledged' });
    }
  });
});

describe('README error table: "retry helps" against "at MQTT"', () => {
  const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
  // The MQTT 3.1.1 column: MQTT 5 has negative PUBACKs (docs/mqtt5.md).
  const rows = [...readme.matchAll(/^\| `(TIQ_ERR_[A-Z_]+)` \|.*\| ([^|]+) \| [^|]+ \| (\d{3}) \| (yes|no) \|$/gm)]
    .map((m) => ({ code: m[1] as ErrorCode, atMqtt: m[2]!.trim(), retry: m[4] === 'yes' }));

  it('lists every code once', () => {
    expect(rows.map((r) => r.code).sort()).toEqual([...CODES].sort());
  });

  it.each(CODES)('%s: documented retry matches the catalogue and its documented outcome', (code) => {
    const row = rows.find((r) => r.code === code)!;
    expect(row.retry).toBe(ERROR_CATALOGUE[code].retryable);
    if (row.atMqtt.startsWith('no PUBACK')) expect(row.retry).toBe(true);
    if (row.atMqtt.startsWith('PUBACK')) expect(row.retry).toBe(false);
  });
});

describe('a real gateway never acknowledges a message refused with a retryable code', () => {
  const pki = new TestPki();
  let failWith: ErrorCode = 'TIQ_ERR_INTERNAL';
  let where: 'sealer' | 'writer' = 'writer';
  let gw: Awaited<ReturnType<typeof startGateway>>;

  beforeAll(async () => {
    gw = await startGateway(pki, {}, {
      // Each stage fails as it would in production: the sealer synchronously or not, the writer by rejecting.
      sealer: { seal: () => (where === 'sealer' ? Promise.reject(new TiqError(failWith)) : Promise.resolve({ formatVersion: 1, dekId: 'dek', kekRef: 'local:acme:v1', iv: Buffer.alloc(12), ciphertext: Buffer.alloc(1), tag: Buffer.alloc(16) })) },
      writer: { write: () => Promise.reject(new TiqError(failWith)) },
    });
  });
  afterAll(async () => { await gw?.gateway.close(); });

  it.each(RETRYABLE.flatMap((code) => [[code, 'sealer'], [code, 'writer']] as const))('%s from the %s: no PUBACK, connection closed', async (code, stage) => {
    failWith = code;
    where = stage;
    const deviceId = `dev-${code.slice(8).toLowerCase().replaceAll('_', '-')}-${stage}`;
    const raw = await RawMqtt.open(gw.port, pki.device('acme', deviceId));
    try {
      expect(await raw.connectAs(deviceId)).toBe(0);
      raw.send({ cmd: 'publish', topic: `tenants/acme/devices/${deviceId}/location`, payload: encode(VEHICLE, vehicle()), qos: 1, messageId: 1, dup: false, retain: false });
      expect(await raw.waitFor(() => raw.closed, 10_000)).toBe(true);
      expect(raw.pubacks()).toEqual([]);
    } finally {
      raw.end();
    }
    expect(await gw.gateway.stats.refusalCount(code)).toBeGreaterThanOrEqual(1);
  });
});
