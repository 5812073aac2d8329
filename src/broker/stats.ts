/**
 * Gateway counters (prom-client, one registry per gateway instance so tests can
 * run several). Labels never carry device ids or coordinates: tenant, stream,
 * outcome and error code only, all of bounded cardinality.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ErrorCode } from '../errors.ts';
import type { Identity } from '../identity/identity.ts';
import { TalliedCounter, TalliedHistogram } from './tallies.ts';

export class GatewayStats {
  readonly registry = new Registry();
  // Per message: tallied, folded into prom-client when read (tallies.ts).
  private readonly messages = new TalliedCounter({
    name: 'thingiq_messages_total', help: 'Messages by stream and outcome', labelNames: ['stream', 'outcome'], registry: this.registry,
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
  private readonly stageSeconds = new Histogram({
    name: 'thingiq_stage_seconds', help: 'Duration of each pipeline stage (a sample of messages)', labelNames: ['stage'],
    buckets: [0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry],
  });
  private readonly pipelineSeconds = new TalliedHistogram<'stream'>({
    name: 'thingiq_pipeline_seconds', help: 'From PUBLISH received to PUBACK released, by stream',
    buckets: [0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5], registry: this.registry,
  });
  private readonly batchRecords = new Histogram({
    name: 'thingiq_sink_batch_records', help: 'Records per committed batch (group commit), by sink', labelNames: ['sink'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], registers: [this.registry],
  });
  private readonly commitSeconds = new Histogram({
    name: 'thingiq_sink_commit_seconds', help: 'Duration of one batch commit, by sink', labelNames: ['sink'],
    buckets: [0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: [this.registry],
  });
  private readonly duplicates = new Counter({
    name: 'thingiq_duplicates_total', help: 'Messages found already stored (a device resent them), by tenant and stream',
    labelNames: ['tenant', 'stream'], registers: [this.registry],
  });
  private readonly deliveries = new TalliedCounter({
    name: 'thingiq_deliveries_total', help: 'Messages forwarded to subscribed apps, by tenant', labelNames: ['tenant'], registry: this.registry,
  });
  private readonly droppedDeliveries = new Counter({
    name: 'thingiq_deliveries_dropped_total', help: 'Deliveries to subscribed apps given up, by tenant and reason (disconnected, stalled)',
    labelNames: ['tenant', 'reason'], registers: [this.registry],
  });
  private readonly deviceEvents = new Counter({
    name: 'thingiq_device_events_total', help: 'Device lifecycle events published to tenants, by event (connected, disconnected) and reason',
    labelNames: ['event', 'reason'], registers: [this.registry],
  });
  readonly connectedClients = new Gauge({ name: 'thingiq_connected_clients', help: 'Connected MQTT clients', registers: [this.registry] });

  constructor(defaultMetrics = false) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** For runPipeline's observer. */
  readonly observeStage = (stage: string, seconds: number): void => {
    this.stageSeconds.observe({ stage }, seconds);
  };

  batchCommitted(sink: string, records: number, seconds: number): void {
    this.batchRecords.observe({ sink }, records);
    this.commitSeconds.observe({ sink }, seconds);
  }

  pipelineDone(stream: string, seconds: number): void {
    this.pipelineSeconds.observe('stream', stream, seconds);
  }

  /**
   * A metric read at scrape time from a component's own state (no cost on
   * the message path): the storage writers, the key cache, connection counts.
   */
  gaugeFrom(name: string, help: string, labelNames: readonly string[], read: () => Promise<Iterable<[Record<string, string>, number]>> | Iterable<[Record<string, string>, number]>): void {
    new Gauge({
      name, help, labelNames: [...labelNames], registers: [this.registry],
      async collect() {
        this.reset();
        for (const [labels, value] of await read()) this.set(labels, value);
      },
    });
  }

  /** A message whose record was already stored: acknowledged again, not stored twice. */
  duplicate(tenant: string, stream: string): void {
    this.duplicates.inc({ tenant, stream });
  }

  delivered(tenant: string): void {
    this.deliveries.inc(tenant);
  }

  /** A device lifecycle event published; reason is `connect` or why the session ended (a small fixed set). */
  deviceEvent(event: string, reason: string): void {
    this.deviceEvents.inc({ event, reason });
  }

  async deviceEventCount(event: string, reason?: string): Promise<number> {
    const m = await this.deviceEvents.get();
    return m.values.filter((v) => v.labels['event'] === event && (reason === undefined || v.labels['reason'] === reason)).reduce((n, v) => n + v.value, 0);
  }

  /** reason: 'disconnected' (the app was gone when the message came) or 'stalled' (its queue was full). */
  deliveryDropped(tenant: string, reason: 'disconnected' | 'stalled'): void {
    this.droppedDeliveries.inc({ tenant, reason });
  }

  /**
   * A counter read at scrape time from totals a component keeps itself (the
   * MQTT sockets' byte counts): nothing is added on the message path.
   */
  counterFrom(name: string, help: string, labelNames: readonly string[], read: () => Iterable<[Record<string, string>, number]>): void {
    new Counter({
      name, help, labelNames: [...labelNames], registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.inc(labels, value);
      },
    });
  }

  accepted(stream: string, outcome: 'stored' | 'dropped'): void {
    this.messages.inc(stream, outcome);
  }

  async duplicateCount(tenant: string, stream: string): Promise<number> {
    const m = await this.duplicates.get();
    return m.values.find((v) => v.labels['tenant'] === tenant && v.labels['stream'] === stream)?.value ?? 0;
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
    const m = await this.messages.metric.get();
    return m.values.find((v) => v.labels['stream'] === stream && v.labels['outcome'] === outcome)?.value ?? 0;
  }
}
