/**
 * Shared TLS session-ticket keys: a device's session made on one node's MQTT
 * listener resumes on another node's with the same secret (real TLS, real
 * client certificates, sockets on port 0), not with another secret; keys
 * rotate with the period of an injected clock; the secret file is checked.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo, Server } from 'node:net';
import { connect as tlsConnect, type SecureVersion, type TLSSocket } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { createMqttListener, type MqttListenerOptions } from '../../src/broker/mqtt-listener.ts';
import { createWsListener } from '../../src/broker/ws-listener.ts';
import { GatewayStats } from '../../src/broker/stats.ts';
import { deriveTicketKey, MIN_TICKET_SECRET_BYTES, periodAt, readTicketSecret, SessionTicketKeys } from '../../src/cluster/session-tickets.ts';
import { parseConfig } from '../../src/config/load.ts';
import { TiqError } from '../../src/errors.ts';
import { AbuseLimits } from '../../src/limits/abuse-limits.ts';
import { createLogger } from '../../src/log.ts';
import { pkiPaths } from '../../src/pki/pki-store.ts';
import { loadTlsMaterial } from '../../src/pki/tls-material.ts';
import { LogCapture } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';

const pki = new TestPki();
const tls = loadTlsMaterial(pkiPaths(pki.dir), undefined);
const device = pki.device('acme', 'roamer-1');
const servers: Server[] = [];
afterAll(() => { for (const s of servers) s.close(); });

const ROTATION_S = 3600;
const secretA = Buffer.alloc(MIN_TICKET_SECRET_BYTES, 'a');
const secretB = Buffer.alloc(MIN_TICKET_SECRET_BYTES, 'b');

/** One node's MQTT listener (or its WebSocket listener for certificates) with the given ticket keys; `accepted` counts connections handed to MQTT. */
async function node(keys: SessionTicketKeys, listener: 'mqtt' | 'ws-mtls' = 'mqtt') {
  const logs = new LogCapture();
  let accepted = 0;
  const parts: MqttListenerOptions = {
    caPems: [tls.caPem], certPem: tls.certPem, keyPem: tls.keyPem,
    identity: { ownCa: tls.ca, externalCa: undefined, isRevoked: () => false },
    limits: new AbuseLimits(parseConfig({}).limits, {}),
    log: createLogger('debug', logs), stats: new GatewayStats(),
    onConnection: (stream) => { accepted++; stream.resume(); },
    sessionTickets: keys,
  };
  const server: Server = listener === 'mqtt' ? createMqttListener(parts) : createWsListener({ ...parts, kind: 'mtls' });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, logs, accepted: () => accepted };
}

/**
 * A device's TLS connection; resolves with whether it resumed and the ticket
 * it got. It closes once a ticket arrives (TLS 1.3 sends them after the
 * handshake; TLS 1.2 on a resumption only when renewing), or after 500 ms.
 */
function handshake(port: number, version: SecureVersion, session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | undefined;
    let reused = false;
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: device.ca, cert: device.cert, key: device.key, session, minVersion: version, maxVersion: version });
    // TLS 1.2 may put a renewed ticket in the session without a 'session' event: it is read from the socket.
    const timer = setTimeout(() => { ticket ??= s.getSession(); s.end(); }, 500);
    s.once('secureConnect', () => { reused = s.isSessionReused(); });
    s.on('session', (t: Buffer) => { ticket = t; clearTimeout(timer); s.end(); });
    s.on('data', () => undefined);
    s.once('error', reject);
    s.once('close', () => resolve({ reused, session: ticket }));
  });
}

function clock(startMs: number) {
  const c = { ms: startMs, now: () => c.ms };
  return c;
}

describe.each(['TLSv1.3', 'TLSv1.2'] as const)('session tickets across nodes (%s)', (version) => {
  it('a session made on node 1 resumes on node 2 with the same secret, not on a node with another secret', async () => {
    const t = clock(Date.now());
    const one = await node(new SessionTicketKeys(secretA, ROTATION_S, t.now));
    const two = await node(new SessionTicketKeys(secretA, ROTATION_S, t.now));
    const other = await node(new SessionTicketKeys(secretB, ROTATION_S, t.now));
    const first = await handshake(one.port, version);
    expect(first.reused).toBe(false);
    expect(first.session).toBeDefined();
    expect((await handshake(two.port, version, first.session)).reused).toBe(true);
    expect((await handshake(other.port, version, first.session)).reused).toBe(false);
    // The resumed session still carries the device's certificate: node 2 identified it and handed it to MQTT.
    expect(two.accepted()).toBe(1);
    expect(two.logs.events('tls_refused')).toHaveLength(0);
    expect(other.accepted()).toBe(1);
  });

  it('rotation: a ticket of the previous period still resumes (and is renewed), one two periods old does not', async () => {
    const t = clock(periodAt(Date.now(), ROTATION_S) * ROTATION_S * 1000 + 5000);
    const keys1 = new SessionTicketKeys(secretA, ROTATION_S, t.now);
    const keys2 = new SessionTicketKeys(secretA, ROTATION_S, t.now);
    const one = await node(keys1);
    const two = await node(keys2);
    const first = await handshake(one.port, version);
    t.ms += ROTATION_S * 1000;
    keys2.refresh();
    expect(keys2.period).toBe(keys1.period + 1);
    const next = await handshake(two.port, version, first.session);
    expect(next.reused).toBe(true);
    // Two boundaries on, the key that sealed the first ticket is gone everywhere: a full handshake.
    t.ms += ROTATION_S * 1000;
    keys2.refresh();
    expect((await handshake(two.port, version, first.session)).reused).toBe(false);
    // The ticket issued anew on that resumption (with the then current key) still resumes.
    expect(next.session).toBeDefined();
    expect((await handshake(two.port, version, next.session)).reused).toBe(true);
  });

  it('with the single-key public API alone, a ticket from before the boundary costs a full handshake', async () => {
    const t = clock(periodAt(Date.now(), ROTATION_S) * ROTATION_S * 1000 + 5000);
    const keys = new SessionTicketKeys(secretA, ROTATION_S, t.now, { previousKey: false });
    const one = await node(keys);
    const first = await handshake(one.port, version);
    expect((await handshake(one.port, version, first.session)).reused).toBe(true);
    t.ms += ROTATION_S * 1000;
    keys.refresh();
    expect((await handshake(one.port, version, first.session)).reused).toBe(false);
  });
});

describe('session tickets on the WebSocket listener for certificates', () => {
  it('resume across nodes too; a ticket of the MQTT port does not resume on it (its own session id context)', async () => {
    const keysA = new SessionTicketKeys(secretA, ROTATION_S);
    const keysB = new SessionTicketKeys(secretA, ROTATION_S);
    const ws1 = await node(keysA, 'ws-mtls');
    const ws2 = await node(keysB, 'ws-mtls');
    const mqttNode = await node(keysB);
    const first = await handshake(ws1.port, 'TLSv1.3');
    expect((await handshake(ws2.port, 'TLSv1.3', first.session)).reused).toBe(true);
    const fromMqtt = await handshake(mqttNode.port, 'TLSv1.3');
    expect((await handshake(ws2.port, 'TLSv1.3', fromMqtt.session)).reused).toBe(false);
  });
});

describe('ticket keys and their secret', () => {
  it('are the same on every node for a period, and differ between periods and secrets', () => {
    expect(deriveTicketKey(secretA, 7).bytes).toEqual(deriveTicketKey(Buffer.from(secretA), 7).bytes);
    expect(deriveTicketKey(secretA, 7).bytes).toHaveLength(48);
    expect(deriveTicketKey(secretA, 8).bytes).not.toEqual(deriveTicketKey(secretA, 7).bytes);
    expect(deriveTicketKey(secretB, 7).bytes).not.toEqual(deriveTicketKey(secretA, 7).bytes);
    expect(periodAt(3_599_999, 3600)).toBe(0);
    expect(periodAt(3_600_000, 3600)).toBe(1);
  });

  it('the timer is set for the next boundary', () => {
    const t = clock(10 * 3600_000 + 1000);
    const keys = new SessionTicketKeys(secretA, 3600, t.now);
    expect(keys.msToNextPeriod()).toBe(3600_000 - 1000);
    expect(keys.period).toBe(10);
  });

  const dir = join(pki.baseDir, 'secrets');
  mkdirSync(dir, { recursive: true });
  function secretFile(name: string, content: Buffer | string, mode = 0o600): string {
    const p = join(dir, name);
    writeFileSync(p, content, { mode });
    chmodSync(p, mode);
    return p;
  }
  function codeOf(fn: () => unknown): string | undefined {
    try {
      fn();
    } catch (err) {
      return err instanceof TiqError ? err.code : 'not a TiqError';
    }
    return undefined;
  }

  it('reads a 0600 file of at least 32 bytes; a trailing newline is not part of it', () => {
    const hex = 'ab'.repeat(32);
    expect(readTicketSecret(secretFile('ok', `${hex}\n`)).toString()).toBe(hex);
    expect(readTicketSecret(secretFile('raw', secretA))).toEqual(secretA);
  });

  it('refuses with TIQ_ERR_CONFIG a file readable by others, too short, missing or not a file', () => {
    expect(codeOf(() => readTicketSecret(secretFile('open', secretA, 0o644)))).toBe('TIQ_ERR_CONFIG');
    expect(codeOf(() => readTicketSecret(secretFile('group', secretA, 0o640)))).toBe('TIQ_ERR_CONFIG');
    expect(codeOf(() => readTicketSecret(secretFile('short', Buffer.alloc(31, 1))))).toBe('TIQ_ERR_CONFIG');
    expect(codeOf(() => readTicketSecret(secretFile('padded', `${'x'.repeat(31)}\n\n  `)))).toBe('TIQ_ERR_CONFIG');
    expect(codeOf(() => readTicketSecret(join(dir, 'absent')))).toBe('TIQ_ERR_CONFIG');
    expect(codeOf(() => readTicketSecret(dir))).toBe('TIQ_ERR_CONFIG');
  });
});
