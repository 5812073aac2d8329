/**
 * `thingiq simulate`: N devices of one tenant publishing vehicle locations and
 * sensor readings over mutual TLS, with certificates issued (or reused) from
 * the gateway's CA. A demonstration and a load source.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../pki/secure-files.ts';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { TelemetryCodec } from '../messages/codec.ts';
import { issueIdentity, readCa } from '../pki/pki-store.ts';
import { advance, sensorMessage, startVehicle, vehicleMessage, type VehicleState } from './routes.ts';

export interface SimulateOptions {
  readonly pkiDir: string;
  readonly tenantId: string;
  readonly devices: number;
  /** Messages per second per device. */
  readonly rate: number;
  readonly durationS: number;
  readonly host: string;
  readonly port: number;
  readonly servername: string;
  readonly onProgress?: (sent: number, acked: number) => void;
}

export interface SimulateResult {
  readonly sent: number;
  readonly acknowledged: number;
  readonly errors: number;
}

function deviceCredentials(pkiDir: string, tenantId: string, deviceId: string) {
  const out = join(pkiDir, 'simulator', tenantId);
  const cert = join(out, `${deviceId}.crt`);
  const key = join(out, `${deviceId}.key`);
  if (!existsSync(cert) || !existsSync(key)) issueIdentity(pkiDir, { kind: 'device', tenantId, deviceId, uri: '' }, out);
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8'), ca: readCa(pkiDir).certPem };
}

/**
 * Where a simulated device's last sequence number is kept, beside its
 * certificate: a second run continues the count, as a device that keeps its
 * counter across restarts would (the gateway stores a restarted counter too).
 */
function sequenceFile(pkiDir: string, tenantId: string, deviceId: string): string {
  return join(pkiDir, 'simulator', tenantId, `${deviceId}.seq`);
}

function lastSequence(path: string): number {
  if (!existsSync(path)) return 0;
  const n = Number(readFileSync(path, 'utf8').trim());
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

function connectDevice(o: SimulateOptions, deviceId: string): Promise<MqttClient> {
  const creds = deviceCredentials(o.pkiDir, o.tenantId, deviceId);
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({
      protocol: 'mqtts', host: o.host, port: o.port, servername: o.servername, clientId: deviceId,
      protocolVersion: 4, clean: false, reconnectPeriod: 1000, ...creds,
    });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

export async function simulate(o: SimulateOptions): Promise<SimulateResult> {
  const codec = TelemetryCodec.load();
  const ids = Array.from({ length: o.devices }, (_, i) => `sim-${String(i + 1).padStart(4, '0')}`);
  const clients = await Promise.all(ids.map((id) => connectDevice(o, id)));
  const seqFiles = ids.map((id) => sequenceFile(o.pkiDir, o.tenantId, id));
  const vehicles: VehicleState[] = ids.map((_, i) => ({ ...startVehicle(i), sequence: lastSequence(seqFiles[i]!) }));
  let sent = 0;
  let acknowledged = 0;
  let errors = 0;
  const intervalMs = 1000 / o.rate;
  const endAt = Date.now() + o.durationS * 1000;
  const timers = clients.map((client, i) => setInterval(() => {
    const v = advance(vehicles[i]!, intervalMs / 1000);
    vehicles[i] = v;
    const now = Date.now();
    const isSensor = v.sequence % 5 === 0;
    const stream = isSensor ? 'sensor' : 'location';
    const body = isSensor ? sensorMessage(v.sequence, now) : vehicleMessage(v, now);
    const type = isSensor ? 'thingiq.telemetry.v1.SensorReading' : 'thingiq.telemetry.v1.VehicleLocation';
    sent++;
    client.publish(`tenants/${o.tenantId}/devices/${ids[i]}/${stream}`, codec.encode(type, body, 'protobuf'), { qos: 1 }, (err) => {
      if (err) errors++;
      else acknowledged++;
    });
  }, intervalMs));
  const progress = setInterval(() => o.onProgress?.(sent, acknowledged), 1000);
  await new Promise((r) => setTimeout(r, Math.max(0, endAt - Date.now())));
  timers.forEach(clearInterval);
  clearInterval(progress);
  vehicles.forEach((v, i) => writeFileAtomic(seqFiles[i]!, `${v.sequence}\n`, 0o600));
  await new Promise((r) => setTimeout(r, 500));
  await Promise.all(clients.map((c) => c.endAsync()));
  return { sent, acknowledged, errors };
}
