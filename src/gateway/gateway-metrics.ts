/** Metrics read from the gateway's components at scrape time. Labels: tenants and sinks, never devices. */
import type { Gateway } from './gateway.ts';

export function registerStateMetrics(gw: Gateway): void {
  const s = gw.stats;
  s.gaugeFrom('thingiq_tenant_connections', 'Live MQTT connections by tenant', ['tenant'],
    () => [...(gw.limits?.perTenant.entries() ?? [])].map(([tenant, n]) => [{ tenant }, n]));
  s.gaugeFrom('thingiq_sink_pending_records', 'Records accepted but not yet committed, by sink', ['sink'],
    async () => Object.entries((await gw.storage.health()).sinks).map(([sink, h]) => [{ sink }, h.writer.pending]));
  s.gaugeFrom('thingiq_sink_up', 'Whether the sink and its writer are healthy (1) or not (0)', ['sink'],
    async () => Object.entries((await gw.storage.health()).sinks).map(([sink, h]) => [{ sink }, h.ok ? 1 : 0]));
  s.gaugeFrom('thingiq_data_key_provider_calls', 'Calls to key providers since start: data keys generated or unwrapped (a cached key costs none)', ['call'],
    () => [[{ call: 'generate' }, gw.keys.sealer.stats.dataKeysGenerated], [{ call: 'unwrap' }, gw.keys.sealer.stats.dataKeysUnwrapped]]);
}
