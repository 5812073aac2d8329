/**
 * Gateway counters (prom-client, one registry per gateway instance so tests can
 * run several). Labels never carry device ids or coordinates: tenant, stream,
 * outcome and error code only, all of bounded cardinality.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ErrorCode } from '../errors.ts';
import type { Identity } from '../identity/identity.ts';

export class GatewayStats {
  readonly registry = new Registry();
  private readonly messages = new Counter({
    name: 'thingiq_messages_total', help: 'Messages by stream and outcome', labelNames: ['stream', 'outcome'], registers: [this.registry],
  });
  private readonly refusals = new Counter({
    name: 'thingiq_refusals_total', help: 'Refusals by error code', labelNames: ['code'], registers: [this.registry],
  });
  private readonly connections = new Counter({
    name: 'thingiq_connections_total', help: 'Accepted MQTT connections by kind and tenant', labelNames: ['kind', 'tenant'], registers: [this.registry],
  });
  private readonly throttles = new Counter({
    name: 'thingiq_throttled_messages_total', help: 'Messages held back by a rate limit or quota (the slow policy)', registers: [this.registry],
  });
  private readonly throttleDelay = new Counter({
    name: 'thingiq_throttle_delay_seconds_total', help: 'Total time messages were held back by rate limits and quotas', registers: [this.registry],
  });
  readonly connectedClients = new Gauge({ name: 'thingiq_connected_clients', help: 'Connected MQTT clients', registers: [this.registry] });

  constructor(defaultMetrics = false) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  accepted(stream: string, outcome: 'stored' | 'dropped'): void {
    this.messages.inc({ stream, outcome });
  }

  refused(code: ErrorCode): void {
    this.refusals.inc({ code });
  }

  throttled(delayMs: number): void {
    this.throttles.inc();
    this.throttleDelay.inc(delayMs / 1000);
  }

  async throttledCount(): Promise<number> {
    const m = await this.throttles.get();
    return m.values[0]?.value ?? 0;
  }

  connected(id: Identity): void {
    this.connections.inc({ kind: id.kind, tenant: id.kind === 'operator' ? '' : id.tenantId });
  }

  async refusalCount(code: ErrorCode): Promise<number> {
    const m = await this.refusals.get();
    return m.values.find((v) => v.labels['code'] === code)?.value ?? 0;
  }

  async messageCount(stream: string, outcome: 'stored' | 'dropped'): Promise<number> {
    const m = await this.messages.get();
    return m.values.find((v) => v.labels['stream'] === stream && v.labels['outcome'] === outcome)?.value ?? 0;
  }
}
