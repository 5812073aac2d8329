/**
 * Connection scale: N devices connect (full TLS handshake + MQTT CONNECT) and
 * stay idle, so the broker's memory per connection can be read; then they all
 * drop and reconnect presenting the TLS session (ticket) of their first
 * connection, the way a fleet comes back after an outage.
 */
import { createSecureContext } from 'node:tls';
import type { Endpoint, MqttConnection } from './mqtt-connection.ts';
import { openMqtt, withConcurrency } from './mqtt-connection.ts';

export interface ScaleSpec {
  readonly endpoint: Endpoint;
  readonly caPem: string;
  readonly keyPem: string;
  readonly clients: readonly { readonly id: string; readonly certPem: string }[];
  /** Handshakes in flight at once. */
  readonly concurrency: number;
  /** How long the connections stay idle before memory is read. */
  readonly idleMs: number;
}

export interface HandshakePhase {
  readonly attempted: number;
  readonly connected: number;
  readonly failed: number;
  /** Connections whose TLS session was resumed (socket.isSessionReused()). */
  readonly resumed: number;
  readonly wallMs: number;
  readonly perSecond: number;
  readonly firstError: string | undefined;
}

export interface ScaleResult {
  readonly full: HandshakePhase;
  readonly resumption: HandshakePhase;
  /** Connections that received a session ticket to resume with. */
  readonly ticketsReceived: number;
}

export type ScaleMark = 'before-full' | 'full-connected' | 'before-resume' | 'resumed-connected';

async function phase(spec: ScaleSpec, sessions: (Buffer | undefined)[] | undefined, open: MqttConnection[]): Promise<HandshakePhase> {
  let failed = 0;
  let firstError: string | undefined;
  const contexts = spec.clients.map((c) => createSecureContext({ ca: spec.caPem, cert: c.certPem, key: spec.keyPem }));
  const started = performance.now();
  await withConcurrency(spec.clients, spec.concurrency, async (c, i) => {
    try {
      open[i] = await openMqtt({ endpoint: spec.endpoint, secureContext: contexts[i]!, clientId: c.id, keepaliveS: 600, session: sessions?.[i] });
    } catch (err) {
      failed++;
      firstError ??= (err as Error).message;
    }
  });
  const wallMs = performance.now() - started;
  const connected = open.filter(Boolean).length;
  return {
    attempted: spec.clients.length, connected, failed, resumed: open.filter((c) => c?.resumed).length,
    wallMs: Math.round(wallMs), perSecond: Math.round((connected / wallMs) * 1000), firstError,
  };
}

/** `mark` lets the orchestrator read the broker's CPU and memory between phases; the run waits for it. */
export async function runConnectionScale(spec: ScaleSpec, mark: (m: ScaleMark) => Promise<void>): Promise<ScaleResult> {
  const first: MqttConnection[] = [];
  await mark('before-full');
  const full = await phase(spec, undefined, first);
  await sleep(spec.idleMs); // TLS 1.3 tickets arrive after the handshake
  await mark('full-connected');
  const sessions = spec.clients.map((_c, i) => first[i]?.session);
  for (const c of first) c?.socket.destroy();
  await sleep(500);
  const second: MqttConnection[] = [];
  await mark('before-resume');
  const resumption = await phase(spec, sessions, second);
  await mark('resumed-connected');
  for (const c of second) c?.socket.destroy();
  await sleep(300);
  return { full, resumption, ticketsReceived: sessions.filter(Boolean).length };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
