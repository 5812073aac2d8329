/**
 * The victim side of the tenant isolation matrices (MQTT 3.1.1 and MQTT 5):
 * a gateway, globex's dashboard app subscribed to all of globex at the given
 * protocol version, and the clients a test opens, ended after the matrix.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll } from 'vitest';
import { connect, startGateway, subscribe } from '../helpers/gateway.ts';
import { TestPki } from '../helpers/pki.ts';
import type { MqttVersion } from '../helpers/raw-mqtt.ts';

export class IsolationRig {
  readonly pki = new TestPki();
  /** Every client a test opens; ended after the matrix. */
  readonly clients: MqttClient[] = [];
  gw!: Awaited<ReturnType<typeof startGateway>>;
  victimApp!: MqttClient;
  /** What globex's dashboard receives on tenants/globex/#. */
  victim!: Awaited<ReturnType<typeof subscribe>>;

  /** Starts the gateway (with `overrides`) and the victim before the enclosing describe's tests, closes all after. */
  static hooked(version: MqttVersion, overrides: Record<string, unknown> = {}): IsolationRig {
    const rig = new IsolationRig();
    beforeAll(async () => {
      rig.gw = await startGateway(rig.pki, overrides);
      rig.victimApp = await connect(rig.gw.port, rig.pki.app('globex', 'dashboard'), { protocolVersion: version, clientId: 'globex-dash' });
      rig.victim = await subscribe(rig.victimApp, 'tenants/globex/#');
    });
    afterAll(async () => {
      for (const c of [...rig.clients, rig.victimApp]) c?.end(true);
      await rig.gw?.gateway.close();
    });
    return rig;
  }
}
