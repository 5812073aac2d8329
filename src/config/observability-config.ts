/**
 * Configuration of what operators watch the gateway with: the Prometheus
 * scrape listener and OpenTelemetry tracing. Both are off by default.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

/** Loopback only: the listener has no authentication, and metrics name tenants. */
function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export const MetricsConfigSchema = z.object({
  /**
   * A plain-HTTP listener serving GET /metrics without credentials, so a
   * local Prometheus (or an agent beside the gateway) needs no operator
   * token. Off unless a port is given (0 picks a free one).
   */
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().default('127.0.0.1').refine(isLoopback, {
    message: 'the unauthenticated metrics listener binds to loopback only (127.0.0.0/8, ::1 or localhost); remote scrapers use GET /metrics on the admin API',
  }),
}).strict();

export const TracingConfigSchema = z.object({
  /** OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. Tracing is off without it. */
  endpoint: z.url().optional(),
  /** Share of MQTT messages traced (every admin request is, while tracing is on). */
  sampleRatio: z.number().min(0).max(1).default(0.01),
  serviceName: z.string().min(1).default('thingiq-gateway'),
  /** Extra HTTP headers for the collector (e.g. an API key). */
  headers: z.record(z.string(), z.string()).default({}),
}).strict();

export type MetricsConfig = z.infer<typeof MetricsConfigSchema>;
export type TracingConfig = z.infer<typeof TracingConfigSchema>;
