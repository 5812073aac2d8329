/**
 * One well-behaved device for the admin-pressure benchmark, in its own
 * process so the load the benchmark makes does not delay its own clock:
 * publishes QoS 1 at a fixed rate and reports PUBACK latency per phase.
 */
import mqtt from 'mqtt';
import { performance } from 'node:perf_hooks';
import { summarise } from './stats.ts';
import { vehicleLocation } from './telemetry-payload.ts';

type Request =
  | { kind: 'start'; port: number; caPem: string; certPem: string; keyPem: string; clientId: string; topic: string; ratePerSec: number }
  | { kind: 'read' } | { kind: 'stop' };

let samples: number[] = [];
let failures = 0;
let timer: NodeJS.Timeout | undefined;
let client: mqtt.MqttClient | undefined;
const send = (m: Record<string, unknown>): void => { process.send?.(m); };

function start(req: Extract<Request, { kind: 'start' }>): void {
  client = mqtt.connect({ protocol: 'mqtts', host: '127.0.0.1', port: req.port, servername: 'localhost', ca: req.caPem, cert: req.certPem, key: req.keyPem,
    clientId: req.clientId, protocolVersion: 4, reconnectPeriod: 500, keepalive: 30 });
  client.once('connect', () => {
    send({ kind: 'ready' });
    let sequence = Date.now() * 10;
    timer = setInterval(() => {
      const t0 = performance.now();
      const payload = vehicleLocation(64, { timeUnixMs: Date.now(), sequence: ++sequence, latitude: 52.52, longitude: 13.405, speedMps: 10, headingDeg: 90 });
      client!.publish(req.topic, payload, { qos: 1 }, (err) => {
        if (err) failures++;
        else samples.push(performance.now() - t0);
      });
    }, 1000 / req.ratePerSec);
  });
  client.on('error', (err) => send({ kind: 'error', message: err.message }));
}

process.on('message', (m) => {
  const req = m as Request;
  if (req.kind === 'start') start(req);
  else if (req.kind === 'read') {
    send({ kind: 'read', latency: summarise(samples), failures });
    samples = [];
    failures = 0;
  } else {
    clearInterval(timer);
    client?.end(false, {}, () => process.exit(0));
  }
});
