/** Metrics read from the gateway's components at scrape time. Labels: tenants and sinks, never devices. */
import type { MetricSources } from './services.ts';
import { expiringByTenant } from '../pki/certificate-expiry.ts';

export function registerStateMetrics(gw: MetricSources): void {
  const s = gw.stats;
  s.gaugeFrom('thingiq_tenant_connections', 'Live MQTT connections by tenant', ['tenant'],
    () => [...(gw.limits?.perTenant.entries() ?? [])].map(([tenant, n]) => [{ tenant }, n]));
  s.gaugeFrom('thingiq_sink_pending_records', 'Records accepted but not yet committed, by sink', ['sink'],
    async () => Object.entries((await gw.storage.health()).sinks).map(([sink, h]) => [{ sink }, h.writer.pending]));
  s.gaugeFrom('thingiq_sink_up', 'Whether the sink and its writer are healthy (1) or not (0)', ['sink'],
    async () => Object.entries((await gw.storage.health()).sinks).map(([sink, h]) => [{ sink }, h.ok ? 1 : 0]));
  s.gaugeFrom('thingiq_data_key_provider_calls', 'Calls to key providers since start: data keys generated or unwrapped (a cached key costs none)', ['call'],
    () => [[{ call: 'generate' }, gw.keys.sealer.stats.dataKeysGenerated], [{ call: 'unwrap' }, gw.keys.sealer.stats.dataKeysUnwrapped]]);
  registerTrafficAndCertificateMetrics(gw);
}

function registerTrafficAndCertificateMetrics(gw: MetricSources): void {
  const s = gw.stats;
  s.counterFrom('thingiq_mqtt_bytes_total', 'Bytes on MQTT connections (TLS records), by tenant and direction (in, out); "" for operators and unidentified peers',
    ['tenant', 'direction'], () => gw.traffic.rows());
  s.gaugeFrom('thingiq_certificates_expiring', 'Active device and app certificates whose notAfter is within 7 or 30 days, by tenant', ['tenant', 'within'],
    () => expiringByTenant(gw.issuedCertificates(), Date.now()));
  s.gaugeFrom('thingiq_certificate_expiry_timestamp_seconds', 'notAfter of the CA, the external CA (if any) and the MQTT server certificate, Unix seconds', ['certificate'],
    () => {
      const e = gw.tlsExpiry;
      if (!e) return [];
      const rows: [Record<string, string>, number][] = [[{ certificate: 'ca' }, e.ca / 1000], [{ certificate: 'server' }, e.server / 1000]];
      if (e.externalCa !== undefined) rows.push([{ certificate: 'external_ca' }, e.externalCa / 1000]);
      return rows;
    });
}
