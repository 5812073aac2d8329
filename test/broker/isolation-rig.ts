/**
 * The victim side of the tenant isolation matrices (MQTT 3.1.1 and MQTT 5):
 * a gateway, globex's dashboard app subscribed to all of globex at the given
 * protocol version (`sub`), and the clients a test opens, ended after the matrix.
 */
import { useSubscriberRig, type SubscriberRig } from '../helpers/gateway-rigs.ts';
import type { MqttVersion } from '../helpers/raw-mqtt.ts';

/** Starts the gateway (with `overrides`) and the victim before the enclosing describe's tests, closes all after. */
export function useIsolationRig(version: MqttVersion, overrides: Record<string, unknown> = {}): SubscriberRig {
  return useSubscriberRig({ config: overrides, app: { tenantId: 'globex', clientId: 'globex-dash', protocolVersion: version } });
}
