/**
 * Bare aedes (2.0.0-beta.1; 1.2.0 when started as `aedes1`) behind the same mutual-TLS listener settings as the
 * gateway's (src/broker/mqtt-listener.ts): same CA, server certificate,
 * requestCert + rejectUnauthorized, TLS 1.2 minimum, TCP_NODELAY. No authentication hooks,
 * no pipeline, in-memory persistence: the baseline the gateway is held to.
 */
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:tls';
import { useAedesV1IfAsked } from './aedes-v1-register.ts';
import { serveTarget } from './target-messages.ts';

useAedesV1IfAsked();

serveTarget(async (req) => {
  if (req.kind !== 'start-aedes') throw new Error(`aedes target cannot ${req.kind}`);
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  const server = createServer({
    ca: [req.tls.caPem], cert: req.tls.certPem, key: req.tls.keyPem,
    requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2', handshakeTimeout: 10_000, noDelay: true,
  });
  server.on('secureConnection', (socket) => broker.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => new Promise<void>((resolve) => { server.close(); broker.close(() => resolve()); }),
  };
});
