/**
 * A QoS 1 message that was PUBACKed survives `kill -9` of the gateway, and
 * redelivered duplicates are stored once (docs/architecture.md, invariants).
 * The gateway runs as a child process and is killed at random moments.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freePort } from '../helpers/free-port.ts';
import { sleep } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import { encode, VEHICLE } from '../helpers/telemetry.ts';

const BIN = join(import.meta.dirname, '../../bin/thingiq.js');
const TOTAL = Number(process.env['CRASH_MESSAGES'] ?? 20_000);
const KILLS = 5;

/** Lines the gateway children wrote at warn level or above, and the last output of each: the story of a failure. */
const childLog: string[] = [];

function startChild(cwd: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, '--config', 'gateway.yaml', 'start'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer): void => {
    for (const line of d.toString().split('\n')) if (/"level":[4-6]0|Error/.test(line)) childLog.push(line.slice(0, 400));
    if (process.env['CRASH_DEBUG']) process.stderr.write(d);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return new Promise((resolve, reject) => {
    let out = '';
    // A start that never reaches "listening" fails here, with what the child said, not as the test's timeout.
    const timer = setTimeout(() => reject(new Error(`gateway not listening after 60 s: ${out.slice(-800)}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"event":"listening"')) { clearTimeout(timer); resolve(child); }
    });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code}) before listening: ${out.slice(-500)}`));
      // Only the test's own signals may end a gateway; anything else is a crash to report.
      if (!stopping.has(child)) childLog.push(`gateway exited on its own (code ${code}, signal ${signal}): ${out.slice(-1500)}`);
    });
  });
}

/** Children the test is stopping itself. */
const stopping = new WeakSet<ChildProcess>();

/** Signals the child and waits for its exit; at once if it already exited. */
function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  stopping.add(child);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const late = setTimeout(() => {
      childLog.push(`gateway did not exit within 30 s of ${signal}`);
      child.kill('SIGKILL');
    }, 30_000);
    child.once('exit', () => { clearTimeout(late); resolve(); });
    child.kill(signal);
  });
}

describe('durability under kill -9', () => {
  it(`stores every acknowledged message exactly once across ${KILLS} SIGKILLs`, async () => {
    const pki = new TestPki();
    const port = await freePort();
    writeFileSync(join(pki.baseDir, 'gateway.yaml'), stringify({
      mqtt: { host: '127.0.0.1', port }, admin: { enabled: false }, pkiDir: 'certs', dataDir: 'data', log: { level: 'info' },
      tenants: { acme: { apps: { dashboard: {} } } },
    }));
    const device = pki.device('acme', 'truck-1');
    let child = await startChild(pki.baseDir);

    const client = mqtt.connect({
      protocol: 'mqtts', host: '127.0.0.1', port, cert: device.cert, key: device.key, ca: device.ca, servername: 'localhost',
      clientId: 'truck-1', clean: false, reconnectPeriod: 100, protocolVersion: 4, connectTimeout: 3000,
    });
    const t0 = Date.now();
    const clientEvents: string[] = [];
    client.on('error', (err: Error & { code?: unknown }) => clientEvents.push(`${Date.now() - t0} ms error ${String(err.code ?? '')} ${err.message}`));
    client.on('close', () => clientEvents.push(`${Date.now() - t0} ms close`));
    await new Promise<void>((r) => client.once('connect', () => r()));

    const acked = new Set<number>();
    const now = Date.now();
    const payloadOf = (seq: number) => encode(VEHICLE, { timeUnixMs: now + seq, sequence: seq, latitude: 45, longitude: 7 });
    const publish = (seq: number) => client.publish('tenants/acme/devices/truck-1/location', payloadOf(seq), { qos: 1 }, (err) => {
      if (!err) acked.add(seq);
    });
    let sent = 0;
    const publishSome = () => {
      // bounded in flight: mqtt.js keeps unacknowledged messages and resends them after reconnect
      while (sent < TOTAL && sent - acked.size < 500) publish(++sent);
    };
    const pump = setInterval(publishSome, 5);

    for (let k = 0; k < KILLS; k++) {
      await sleep(300 + Math.random() * 1200);
      await stopChild(child, 'SIGKILL');
      child = await startChild(pki.baseDir);
    }
    // A device whose message stays unacknowledged publishes it again (same sequence number),
    // as real devices do: mqtt.js's own session resend can skip ids reused across reconnects.
    // Ends before the test's own timeout, so a stall fails with its story rather than as a timeout.
    const deadline = Math.min(Date.now() + 120_000, t0 + 200_000);
    let last = -1;
    while (acked.size < TOTAL && Date.now() < deadline) {
      await sleep(2000);
      if (sent === TOTAL && acked.size === last && client.connected) {
        for (let seq = 1; seq <= TOTAL; seq++) if (!acked.has(seq)) publish(seq);
      }
      last = acked.size;
    }
    clearInterval(pump);
    client.end(true);
    await stopChild(child, 'SIGTERM');

    const story = () => [
      `sent ${sent}, acknowledged ${acked.size}, connected ${client.connected}`,
      ...clientEvents.filter((e) => !e.endsWith('close')).slice(-10), ...childLog.slice(-10),
    ].join('\n');
    expect(childLog.filter((l) => l.startsWith('gateway exited on its own') || l.startsWith('gateway did not exit')), story()).toEqual([]);
    expect(acked.size, story()).toBe(TOTAL);
    const db = new Database(join(pki.baseDir, 'data', 'thingiq.db'), { readonly: true });
    const rows = db.prepare('SELECT sequence, COUNT(*) AS n FROM tiq_records WHERE tenant_id = ? GROUP BY sequence').all('acme') as { sequence: number; n: number }[];
    db.close();
    expect(rows.filter((r) => r.n !== 1)).toEqual([]);
    const stored = new Set(rows.map((r) => r.sequence));
    expect([...acked].filter((s) => !stored.has(s))).toEqual([]);
    expect(stored.size).toBe(TOTAL);
  }, 240_000);
});
