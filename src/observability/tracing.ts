/**
 * OpenTelemetry traces, exported over OTLP/HTTP when `tracing.endpoint` is
 * configured. Without it no tracer exists at all: the broker and the admin
 * API check for one once and do no tracing work per message.
 *
 * One sampled MQTT message gives a span `mqtt.publish` with a child per
 * pipeline stage (decode, validate, privacy, encrypt, store); each admin
 * request gives a span `admin.request`. Attributes are the tenant, the
 * stream, sizes, outcomes, error codes and route templates: never a payload,
 * a coordinate, a device id or a URL with ids in it.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from '../config/observability-config.ts';

/** Pipeline stage functions by name, as the spans call them. */
const STAGE_NAMES: Readonly<Record<string, string>> = {
  decodePayload: 'decode', validateMessage: 'validate', applyPrivacyPolicy: 'privacy', encryptRecord: 'encrypt', storeRecord: 'store',
};

/** The trace of one sampled message: a stage span as each stage ends, then the end of the whole. */
export interface MessageTrace {
  stage(stage: string, seconds: number): void;
  end(outcome: { readonly code?: string; readonly dropped?: boolean }): void;
}

export interface AdminRequestTrace {
  end(statusCode: number, route: string | undefined, endMs?: number): void;
}

export class GatewayTracer {
  private constructor(
    private readonly provider: BasicTracerProvider,
    private readonly tracer: Tracer,
    private readonly sampleRatio: number,
  ) {}

  /** A tracer when the configuration names an endpoint; undefined (tracing off) otherwise. */
  static fromConfig(config: TracingConfig): GatewayTracer | undefined {
    if (!config.endpoint) return undefined;
    const exporter = new OTLPTraceExporter({ url: config.endpoint, headers: config.headers });
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.serviceName }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 })],
    });
    return new GatewayTracer(provider, provider.getTracer('thingiq-gateway'), config.sampleRatio);
  }

  /** Starts the trace of a message, for the configured share of messages; undefined for the rest. */
  message(tenant: string, stream: string, payloadBytes: number): MessageTrace | undefined {
    if (this.sampleRatio < 1 && Math.random() >= this.sampleRatio) return undefined;
    const root = this.tracer.startSpan('mqtt.publish', {
      kind: SpanKind.CONSUMER,
      attributes: { 'messaging.system': 'mqtt', 'thingiq.tenant': tenant, 'thingiq.stream': stream, 'messaging.message.body.size': payloadBytes },
    }, ROOT_CONTEXT);
    const parent = trace.setSpan(ROOT_CONTEXT, root);
    return {
      stage: (stage, seconds) => {
        const endMs = performance.timeOrigin + performance.now();
        const name = STAGE_NAMES[stage] ?? stage;
        this.tracer.startSpan(`pipeline.${name}`, { startTime: endMs - seconds * 1000, attributes: { 'thingiq.stage': name } }, parent).end(endMs);
      },
      end: ({ code, dropped }) => endSpan(root, code, dropped === undefined ? {} : { 'thingiq.outcome': dropped ? 'dropped' : 'stored' }),
    };
  }

  /** startMs/endMs: epoch milliseconds (default now). */
  adminRequest(method: string, startMs?: number): AdminRequestTrace {
    const span = this.tracer.startSpan('admin.request', {
      kind: SpanKind.SERVER, attributes: { 'http.request.method': method }, ...(startMs === undefined ? {} : { startTime: startMs }),
    }, ROOT_CONTEXT);
    return {
      end: (statusCode, route, endMs) => {
        span.setAttribute('http.response.status_code', statusCode);
        if (route) {
          span.setAttribute('http.route', route);
          span.updateName(`${method} ${route}`);
        }
        if (statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end(endMs);
      },
    };
  }

  /** Exports what is buffered, then stops. */
  async close(): Promise<void> {
    await this.provider.shutdown();
  }
}

function endSpan(span: Span, code: string | undefined, attributes: Record<string, string>): void {
  span.setAttributes(attributes);
  if (code) {
    span.setAttribute('thingiq.error_code', code);
    span.setStatus({ code: SpanStatusCode.ERROR, message: code });
  }
  span.end();
}
