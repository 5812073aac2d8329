/**
 * The gateway: composes PKI, the MQTT listener, the broker hooks and the
 * pipeline's components, and owns their lifecycle (start, drain, close).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Server } from 'node:tls';
import { Aedes } from 'aedes';
import { stateOf } from './broker/client-state.ts';
import { createHooks } from './broker/hooks.ts';
import { createMqttListener } from './broker/mqtt-listener.ts';
import { GatewayStats } from './broker/stats.ts';
import { TenantDirectory } from './broker/tenant-directory.ts';
import type { GatewayConfig } from './config/schema.ts';
import { TiqError } from './errors.ts';
import { createLogger, type Logger } from './log.ts';
import { TelemetryCodec } from './messages/codec.ts';
import type { PipelineContext } from './pipeline/context.ts';
import { initPki, pkiPaths } from './pki/pki-store.ts';
import { IssuanceRegistry, normaliseSerial } from './pki/issuance-registry.ts';
import { KEEP_ALL_POLICY } from './privacy/privacy-policy.ts';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  /** Relative paths in the config resolve against this (default: the working directory). */
  readonly baseDir?: string;
  readonly logger?: Logger;
  /** Overrides config.mqtt.port (tests use 0). */
  readonly mqttPort?: number;
  /** Replaces pipeline components (tests inject slow or failing ones). */
  readonly components?: Partial<Pick<PipelineContext, 'sealer' | 'writer'>>;
}

const DAY_MS = 24 * 3600 * 1000;

export class Gateway {
  readonly stats = new GatewayStats();
  private server: Server | undefined;
  private broker: Aedes | undefined;
  private registry: IssuanceRegistry | undefined;
  private directory: TenantDirectory;
  private closing = false;
  private components: Partial<Pick<PipelineContext, 'sealer' | 'writer'>> = {};
  readonly log: Logger;
  readonly codec: TelemetryCodec;

  private constructor(readonly config: GatewayConfig, readonly baseDir: string, log: Logger) {
    this.log = log;
    this.directory = new TenantDirectory(config);
    this.codec = TelemetryCodec.load();
    this.checkStreams();
  }

  static async start(opts: GatewayOptions): Promise<Gateway> {
    const baseDir = opts.baseDir ?? process.cwd();
    const gw = new Gateway(opts.config, baseDir, opts.logger ?? createLogger(opts.config.log.level));
    gw.components = opts.components ?? {};
    await gw.listen(opts.mqttPort ?? opts.config.mqtt.port);
    return gw;
  }

  path(p: string): string {
    return resolve(this.baseDir, p);
  }

  /** Every configured stream must name a message type the codec knows. */
  private checkStreams(): void {
    const problems: string[] = [];
    for (const id of this.directory.ids()) {
      for (const [name, s] of this.directory.get(id)!.streams) {
        if (!this.codec.hasType(s.messageType)) problems.push(`tenants.${id}.streams.${name}: unknown message type ${s.messageType}`);
      }
    }
    if (problems.length) throw new TiqError('TIQ_ERR_CONFIG', { problems });
  }

  private pipelineContext(): PipelineContext {
    return {
      codec: this.codec,
      privacy: () => KEEP_ALL_POLICY,
      sealer: this.components.sealer,
      writer: this.components.writer,
      retention: (_t, _s, _d, receivedAtMs) => ({ retentionClass: 'default', expiresAtMs: receivedAtMs + 365 * DAY_MS, legalHold: false }),
      now: () => Date.now(),
      maxClockSkewMs: this.config.mqtt.maxClockSkewMs,
    };
  }

  private async listen(port: number): Promise<void> {
    const pkiDir = this.path(this.config.pkiDir);
    const created = initPki(pkiDir, this.config.mqtt.serverHosts);
    if (created.createdCa) this.log.info({ event: 'pki_created', pkiDir }, `created a development CA and server certificate in ${pkiDir}`);
    const paths = pkiPaths(pkiDir);
    const caPem = readFileSync(paths.caCert, 'utf8');
    const external = this.config.externalCa;
    const externalPem = external ? readFileSync(this.path(external.caFile), 'utf8') : undefined;
    this.registry = new IssuanceRegistry(paths.registry);
    const registry = this.registry;

    const hooks = createHooks({
      directory: () => this.directory,
      pipeline: this.pipelineContext(),
      log: this.log,
      stats: this.stats,
      maxRefusalsBeforeDisconnect: this.config.mqtt.maxRefusalsBeforeDisconnect,
      onPrivateModeCommand: () => false,
    });
    this.broker = await Aedes.createBroker({
      ...hooks,
      connectTimeout: this.config.mqtt.connectTimeoutMs,
      keepaliveLimit: this.config.mqtt.keepaliveLimitS,
    });
    this.broker.on('clientReady', () => this.stats.connectedClients.inc());
    this.broker.on('clientDisconnect', () => this.stats.connectedClients.dec());
    this.broker.on('clientError', (client, err) => this.log.debug({ event: 'client_error', sessionId: client.id, reason: err.message }, 'client error'));

    this.server = createMqttListener({
      caPems: externalPem ? [caPem, externalPem] : [caPem],
      certPem: readFileSync(paths.serverCert, 'utf8'),
      keyPem: readFileSync(paths.serverKey, 'utf8'),
      handshakeTimeoutMs: this.config.mqtt.connectTimeoutMs,
      identity: {
        ownCa: new X509Certificate(caPem),
        externalCa: external && externalPem
          ? { ca: new X509Certificate(externalPem), tenantFrom: external.tenantFrom, deviceFrom: external.deviceFrom }
          : undefined,
        isRevoked: (serial) => registry.isRevoked(serial),
      },
      log: this.log,
      stats: this.stats,
      onConnection: (socket) => this.broker!.handle(socket),
    });
    await new Promise<void>((resolveListen, reject) => {
      this.server!.once('error', (err: NodeJS.ErrnoException) => reject(new TiqError('TIQ_ERR_LISTEN',
        err.code === 'EADDRINUSE' ? `port ${port} is already in use` : `${err.code ?? ''} ${err.message}`, { cause: err })));
      this.server!.listen(port, this.config.mqtt.host, () => resolveListen());
    });
    watchFile(paths.registry, { interval: 250 }, () => this.onRegistryChange());
    this.log.info({ event: 'listening', port: this.mqttPort, host: this.config.mqtt.host }, 'MQTT over mutual TLS listening');
  }

  get mqttPort(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** A revoked certificate's live connections are closed (the CLI may revoke while we run). */
  private onRegistryChange(): void {
    const registry = this.registry;
    if (!registry || !this.broker) return;
    registry.reload();
    for (const client of Object.values((this.broker as unknown as { clients: Record<string, import('aedes').Client> }).clients)) {
      const state = stateOf(client);
      if (state && registry.isRevoked(normaliseSerial(state.peer.serial))) {
        this.log.warn({ event: 'revoked_disconnect', code: 'TIQ_ERR_CERT_REVOKED', sessionId: client.id }, 'revoked certificate disconnected');
        client.close();
      }
    }
  }

  /** Stops accepting connections, lets in-flight publishes finish (bounded), then closes. */
  async close(drainMs = 5000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.registry) unwatchFile(this.registry.path);
    this.server?.close();
    const deadline = Date.now() + drainMs;
    while (Date.now() < deadline && this.inFlight() > 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise<void>((r) => (this.broker ? this.broker.close(() => r()) : r()));
    this.log.info({ event: 'closed' }, 'gateway closed');
  }

  private inFlight(): number {
    if (!this.broker) return 0;
    let n = 0;
    for (const client of Object.values((this.broker as unknown as { clients: Record<string, import('aedes').Client> }).clients)) {
      n += stateOf(client)?.order.pending ?? 0;
    }
    return n;
  }
}
