/**
 * The gateway: composes PKI, the MQTT listener, the broker hooks and the
 * pipeline's components, and owns their lifecycle (start, drain, close).
 */
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Server } from 'node:net';
// Before aedes: mqtt-packet's loggers are chosen when it loads (quiet-debug.ts).
import '../broker/quiet-debug.ts';
import { Aedes } from 'aedes';
import { closeClientsWhere, pendingPublishes } from '../broker/live-clients.ts';
import { watchConnectionErrors } from '../broker/connection-errors.ts';
import { createHooks } from '../broker/hooks.ts';
import { mqtt5BrokerOptions } from '../broker/mqtt5.ts';
import { capSubscriptionQos } from '../broker/subscribe-qos.ts';
import { createMqttListener } from '../broker/mqtt-listener.ts';
import { GatewayStats } from '../broker/stats.ts';
import type { SharedSubscriptions } from '../broker/shared-subscriptions.ts';
import { RetainedLedger, removeRetained } from '../broker/retained-ledger.ts';
import { TenantDirectory } from '../broker/tenant-directory.ts';
import { AbuseLimits } from '../limits/abuse-limits.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { TiqError, toTiqError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { TelemetryCodec } from '../messages/codec.ts';
import type { PipelineContext } from '../pipeline/context.ts';
import { pkiPaths } from '../pki/pki-store.ts';
import { loadTlsMaterial } from '../pki/tls-material.ts';
import { IssuanceRegistry, normaliseSerial, type IssuedRecord } from '../pki/issuance-registry.ts';
import { TrafficMeter } from '../broker/traffic-meter.ts';
import { GatewayTracer } from '../observability/tracing.ts';
import { startMetricsListener, type MetricsListener } from '../admin/metrics-listener.ts';
import { privacySourcesFromConfig } from '../privacy/config-sources.ts';
import { PolicyOverrides } from '../privacy/policy-overrides.ts';
import { createPrivacyEngine, type ReloadablePrivacyEngine } from '../privacy/privacy-engine.ts';
import { createPrivateModeRegistry, parsePrivateModeCommand, type PrivateModeRegistry } from '../privacy/private-mode.ts';
import { parseConfig } from '../config/load.ts';
import { openKeyContext, type KeyContext } from '../keys/key-context.ts';
import { clusterAuditTrail, clusterDigestSecret, clusterKeyOptions } from '../cluster/cluster-state.ts';
import { deviceVaultPath } from '../keys/key-store-paths.ts';
import type { AuditInput } from '../audit/audit-entry.ts';
import { CONTENT_DIGEST_SECRET_FILE, contentDigester, loadOrCreateDigestSecret } from '../keys/content-digest.ts';
import { RetentionSweeper } from '../retention/retention-sweeper.ts';
import type { RetentionService } from '../retention/retention-service.ts';
import { importRetentionFromSinks, refuseStrayTenantRecords, retentionFromConfig } from './open-storage.ts';
import { RoutedDataKeyStore } from '../sinks/routed-data-key-store.ts';
import { StorageRouter } from '../sinks/sink-router.ts';
import { resolveStorageConfig } from '../config/sinks-config.ts';
import type { AdminServer } from '../admin/admin-server.ts';
import type { TenantChange } from '../admin/admin-adapters.ts';
import { TenantOverrides, type TenantOverridesState } from '../admin/tenant-overrides.ts';
import { openAdminParts, publishLocalAdmin, startAdmin, type AdminParts } from './gateway-admin.ts';
import { WindowCounter } from '../audit/audit-aggregator.ts';
import { auditDirOf, auditPaths } from '../audit/audit-log.ts';
import { CheckpointExporter } from '../audit/checkpoint-export.ts';
import type { ChangeEventOf, ControlStore } from '../control/control-store.ts';
import type { AuditHeadRecorder } from '../control/audit-head.ts';
import { anchorAuditLog, followControlFeed, importKeyringVersions, openGatewayControlStore } from './gateway-control.ts';
import { DataDirLock } from '../instance/data-dir-lock.ts';
import { checkConfig, ConfigFileWatcher, type CandidateChecks, type ReloadResult } from './gateway-config.ts';
import { keepRunningValues, liveChanges, restartRequiredChanges } from '../config/restart-sections.ts';
import { rootKeyFiles, secureDataDir } from './data-dir.ts';
import { registerStateMetrics } from './gateway-metrics.ts';
import { BackupScheduler } from './gateway-backup.ts';
import { closeWebSocketListeners, portOf, startWebSocketListeners, websocketTokenCheck, type WebSocketServers } from './gateway-websocket.ts';
import { isWebSocketConnection } from '../broker/ws-listener.ts';
import type { ClusterRuntime } from '../cluster/cluster-runtime.ts';
import { attachCluster, checkClusterStart, preparePki, startClusterRuntime, type LeaderJob } from './gateway-cluster.ts';
import { GatewayBus } from './gateway-bus.ts';
import { openSessionTickets, type SessionTicketKeys } from '../cluster/session-tickets.ts';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  /** Relative paths in the config resolve against this (default: the working directory). */
  readonly baseDir?: string;
  readonly logger?: Logger;
  /** Overrides config.mqtt.port (tests use 0). */
  readonly mqttPort?: number;
  /** Override config.websocket.port and mtlsPort (tests use 0); the listeners open only when websocket.enabled. */
  readonly wsPort?: number;
  readonly wsMtlsPort?: number;
  /** The config file to watch: a change is applied without restart (see reload). */
  readonly configPath?: string;
  /** Replaces pipeline components (tests inject slow or failing ones). */
  readonly components?: Partial<Pick<PipelineContext, 'sealer' | 'writer'>>;
  /** The worker index under `thingiq start --workers N` (cluster node id `<id>-w<i>`). */
  readonly clusterWorker?: number;
  /** Applied to every reloaded raw config before it is checked (a worker's own data directory). */
  readonly adaptConfig?: (raw: unknown) => unknown;
}

export class Gateway {
  readonly stats = new GatewayStats(true);
  private server: Server | undefined;
  private broker: Aedes | undefined;
  private registry: IssuanceRegistry | undefined;
  /** Bytes on MQTT connections, by tenant (read at scrape time). */
  readonly traffic = new TrafficMeter();
  /** notAfter of the CA(s) and the server certificate, ms since the epoch, once listening. */
  tlsExpiry: { readonly ca: number; readonly externalCa: number | undefined; readonly server: number } | undefined;
  private directory: TenantDirectory;
  private closing = false;
  private components: Partial<Pick<PipelineContext, 'sealer' | 'writer'>> = {};
  /** Set by start(); undefined only while starting or after a failed start. */
  storage!: StorageRouter;
  retention!: RetentionService;
  keys!: KeyContext;
  admin: AdminParts | undefined;
  private adminServer: AdminServer | undefined;
  /** The configuration in force (replaced by a successful reload). */
  currentConfig: GatewayConfig;
  private sweeper: RetentionSweeper | undefined;
  private dataDirLock: DataDirLock | undefined;
  private dekSweep: NodeJS.Timeout | undefined;
  /** Records the audit chain's head in the control store after each group commit. */
  private auditHead: AuditHeadRecorder | undefined;
  /** Devices whose private-mode command changed the mode but is not audited yet (tenant/device). */
  private readonly unauditedCommands = new Set<string>();
  /** Private-mode changes audited one by one per device and minute; more are folded into a summary entry. */
  private readonly privateModeAudits = new WindowCounter(10, 60_000);
  /** Keyed digest of a device's payload, part of the idempotency key (set by openStores). */
  private contentDigest!: (payload: Buffer) => Buffer;
  readonly log: Logger;
  readonly codec: TelemetryCodec;
  readonly privateMode: PrivateModeRegistry;
  readonly privacy: ReloadablePrivacyEngine;
  readonly policyOverrides: PolicyOverrides;
  /** Retained messages stamped with the policy that made them; stale ones are never delivered. */
  readonly retained: RetainedLedger;

  /**
   * `config` is the base config with the API's tenant changes applied;
   * `baseConfig` is the base itself (file or start options), kept so that an
   * API change can be validated and applied as a reload of base + changes.
   */
  private constructor(readonly config: GatewayConfig, readonly baseDir: string, log: Logger,
    readonly tenantOverrides: TenantOverrides, private baseConfig: unknown, readonly control: ControlStore) {
    this.log = log;
    this.currentConfig = config;
    this.directory = new TenantDirectory(config);
    this.codec = TelemetryCodec.load();
    this.checkStreams();
    this.privateMode = createPrivateModeRegistry(control);
    this.policyOverrides = new PolicyOverrides(control);
    this.privacy = createPrivacyEngine({ tenants: this.policyOverrides.apply(privacySourcesFromConfig(config)), privateMode: this.privateMode });
    this.retained = new RetainedLedger({
      restriction: (t, d) => this.admin?.restrictions.isRestricted(t, d) ?? 'none',
      objected: (t, d) => (this.admin?.objections.list(t, d).length ?? 0) > 0,
      policyOf: (t) => this.privacy.policyOf(t) ?? { policyId: 'none', policyVersion: 0 },
    }, (topic) => {
      removeRetained(this.broker, topic).catch((err: unknown) => this.log.warn({ event: 'retained_remove_failed', err }, 'could not remove a retained message'));
    }, () => ({ brokerId: this.broker?.id, counter: (this.broker as { counter?: number } | undefined)?.counter }));
  }

  static async start(opts: GatewayOptions): Promise<Gateway> {
    const baseDir = opts.baseDir ?? process.cwd();
    const log = opts.logger ?? createLogger(opts.config.log.level);
    // Cluster mode's refusals come first, all at once, before anything is opened or created.
    checkClusterStart(opts.config, baseDir);
    secureDataDir(resolve(baseDir, opts.config.dataDir), log, { leaveAlone: rootKeyFiles(opts.config, baseDir) });
    const control = await openGatewayControlStore(opts.config, (p) => resolve(baseDir, p), log);
    log.info({ event: 'control_store_open', backend: control.backend, version: control.version }, `control store open (${control.backend}, version ${control.version})`);
    let gw: Gateway;
    try {
      const tenantOverrides = new TenantOverrides(control);
      // Re-parsing a parsed config is the identity; with API changes it validates them as a reload would.
      const parsed = parseConfig(tenantOverrides.apply(opts.config), '(config with admin API changes)');
      gw = new Gateway(parsed, baseDir, log, tenantOverrides, opts.config, control);
      gw.tenantsVersion = control.version;
    } catch (err) {
      await control.close();
      throw err;
    }
    const config = gw.config;
    gw.components = opts.components ?? {};
    // One writer per data directory: a second gateway, or an offline CLI command, is refused (TIQ_ERR_DATA_DIR_LOCKED).
    gw.dataDirLock = DataDirLock.acquire(gw.path(config.dataDir), 'gateway');
    try {
      gw.cluster = await startClusterRuntime(config, log, opts.clusterWorker);
      await gw.openStores();
      await gw.listen(opts.mqttPort ?? opts.config.mqtt.port, { token: opts.wsPort, mtls: opts.wsMtlsPort });
      gw.followControl();
      if (opts.config.admin.enabled) {
        const { server, ports } = await startAdmin(gw, gw.admin!);
        gw.adminServer = server;
        gw.adminPorts = ports;
        publishLocalAdmin(gw, gw.dataDirLock, ports.mtlsPort);
        gw.log.info({ event: 'admin_listening', port: ports.port, mtlsPort: ports.mtlsPort }, 'admin API listening (bearer tokens; client certificates)');
      }
      const scrape = config.metrics;
      if (scrape.port !== undefined) gw.metricsListener = await startMetricsListener({ host: scrape.host, port: scrape.port }, gw.stats.registry, gw.log);
      const backup = config.backup;
      if (backup?.dir) {
        gw.backupScheduler = new BackupScheduler(gw, { ...backup, dir: backup.dir }, (e) => gw.auditSystem(e));
        if (!gw.cluster) gw.backupScheduler.start();
      }
      if (gw.cluster) gw.detachCluster = attachCluster(gw.cluster, { limits: gw.limits, stats: gw.stats, log: gw.log, jobs: gw.leaderJobs() });
    } catch (err) {
      await gw.close(0).catch(() => undefined);
      throw err;
    }
    if (opts.adaptConfig) gw.adaptConfig = opts.adaptConfig;
    if (opts.configPath) gw.watchConfig(opts.configPath);
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

  /** Storage (records and wrapped data keys), retention, and the tenants' keys, in that order. */
  private async openStores(): Promise<void> {
    const storage = resolveStorageConfig(this.config.storage);
    const dataDir = this.path(this.config.dataDir);
    this.storage = StorageRouter.fromConfig(storage, { dataDir }, {
      logger: this.log,
      onBackpressure: (sink, active) => this.log.warn({ event: 'backpressure', sink, active }, active
        ? 'storage is behind: publishers wait for their acknowledgements'
        : 'storage caught up'),
      onCommit: (sink, records, seconds) => this.stats.batchCommitted(sink, records, seconds),
    });
    await this.storage.start();
    await refuseStrayTenantRecords(this.storage, this.config);
    await importRetentionFromSinks(this.control, this.storage, this.log);
    this.retention = retentionFromConfig(this.config, this.storage, this.log, this.control);
    await this.retention.load();
    this.sweeper = new RetentionSweeper(this.retention, { intervalMs: storage.sweeper.intervalMs, logger: this.log });
    // In cluster mode the leader alone sweeps (attachCluster starts it there).
    if (!this.cluster) void this.sweeper.start();
    this.admin = openAdminParts(dataDir, this.control, await clusterAuditTrail(this.config, { resolvePath: (p) => this.path(p), ...(this.cluster ? { nodeId: this.cluster.nodeId } : {}) }));
    // A log with fewer or other entries than the store's recorded head refuses the start (TIQ_ERR_AUDIT_HEAD).
    this.auditHead = anchorAuditLog(this.admin.audit, this.control, this.log);
    const exportTo = this.config.audit.checkpointExport;
    if (exportTo) {
      this.checkpointExporter = new CheckpointExporter(auditPaths(auditDirOf(dataDir)).checkpoint, { ...exportTo, ...(exportTo.file ? { file: this.path(exportTo.file) } : {}), ...(exportTo.caFile ? { caFile: this.path(exportTo.caFile) } : {}) }, this.log);
      this.checkpointExporter.start();
    }
    // Joining a cluster with a vault file of its own single-process days: moved into the shared vault first.
    const join = { vaultFile: deviceVaultPath({ ...this.config, dataDir }), log: this.log, audit: (e: AuditInput) => this.admin!.audit.commit(e) };
    this.keys = await openKeyContext({ ...this.config, dataDir }, new RoutedDataKeyStore(this.storage), await clusterKeyOptions(this.config, join));
    // Shreds recorded while this vault was elsewhere (another gateway's, or restored from before them).
    for (const shred of this.control.entries('shred').values()) await this.keys.deviceKeks.applyTombstone(shred);
    await importKeyringVersions(this.control, this.keys, Object.keys(this.config.tenants), this.log);
    this.contentDigest = contentDigester(clusterDigestSecret(this.config, { resolvePath: (p) => this.path(p) }) ?? loadOrCreateDigestSecret(resolve(dataDir, CONTENT_DIGEST_SECRET_FILE)));
    // Retired data keys are zeroed and dropped from memory between messages, not on the hot path.
    this.dekSweep = setInterval(() => this.keys.sealer.sweep(), 60_000);
    this.dekSweep.unref();
    registerStateMetrics(this);
  }

  private pipelineContext(): PipelineContext {
    return {
      codec: this.codec,
      privacy: () => this.privacy,
      sealer: this.components.sealer ?? this.keys.sealer,
      writer: this.components.writer ?? this.storage,
      retention: (tenantId, stream, deviceId, receivedAtMs) => this.retention.policy.retentionFor(tenantId, stream, deviceId, receivedAtMs),
      now: () => Date.now(),
      maxClockSkewMs: this.config.mqtt.maxClockSkewMs,
      contentDigest: this.contentDigest,
    };
  }

  private async listen(port: number, wsPorts: { token?: number | undefined; mtls?: number | undefined } = {}): Promise<void> {
    const pkiDir = this.path(this.config.pkiDir);
    const created = preparePki(this.config, pkiDir);
    if (created.createdCa) this.log.info({ event: 'pki_created', pkiDir }, `created a development CA and server certificate in ${pkiDir}`);
    const paths = pkiPaths(pkiDir);
    const external = this.config.externalCa;
    const tls = loadTlsMaterial(paths, external ? this.path(external.caFile) : undefined);
    this.registry = new IssuanceRegistry(paths.registry, this.control);
    const registry = this.registry;
    // What tools without the store issued (and, at the first start, everything older versions did) moves into the store.
    await registry.importJournal(this.log);
    this.tlsExpiry = {
      ca: Date.parse(tls.ca.validTo), externalCa: tls.externalCa && Date.parse(tls.externalCa.validTo),
      server: Date.parse(new X509Certificate(tls.certPem).validTo),
    };
    // Cluster mode: every node issues and accepts the same TLS session tickets (a device resumes on any node).
    this.sessionTickets = this.config.cluster && openSessionTickets(this.config.cluster.sessionTickets, (p) => this.path(p));
    const limits = new AbuseLimits(this.config.limits, Object.fromEntries(Object.entries(this.config.tenants).map(([t, c]) => [t, c.quotas])));
    limits.setLiveNodes(this.cluster?.liveNodes() ?? 1);
    this.limits = limits;

    this.tracer ??= GatewayTracer.fromConfig(this.config.tracing);
    const ws = this.config.websocket;
    const { attach, sharedSubscriptions, ...hooks } = createHooks({
      tokens: ws.enabled ? websocketTokenCheck(this.config, this.baseDir) : undefined,
      // The WebSocket listeners are for tenant apps only.
      accepts: (conn, id) => id.kind === 'app' || !isWebSocketConnection(conn),
      closing: () => this.closing,
      retained: this.retained,
      directory: () => this.directory,
      tracer: this.tracer,
      pipeline: this.pipelineContext(),
      log: this.log,
      stats: this.stats,
      maxRefusalsBeforeDisconnect: this.config.mqtt.maxRefusalsBeforeDisconnect,
      limits,
      keepaliveLimitS: this.config.mqtt.keepaliveLimitS,
      restriction: (tenantId, deviceId) => this.admin?.restrictions.isRestricted(tenantId, deviceId) ?? 'none',
      isRevoked: (serial) => registry.isRevoked(serial),
      onPrivateModeCommand: (tenantId, deviceId, payload) => this.privateModeCommand(tenantId, deviceId, payload),
      redirect: this.config.mqtt.redirect,
    });
    // Cluster mode: live fan-out to the other nodes over NATS (gateway-bus.ts).
    this.bus = GatewayBus.open(this.config, (p) => this.path(p), this.log, this.stats.registry, this.cluster?.nodeId);
    this.broker = await Aedes.createBroker({
      ...hooks,
      ...(this.bus ? { mq: this.bus.mq } : {}),
      connectTimeout: this.config.mqtt.connectTimeoutMs,
      // Keepalive bounds are checked in preConnect, and the guarded socket keeps the timer (guarded-socket.ts).
      // The guarded socket never makes aedes wait for a slow reader; this is aedes's own bound should it ever.
      drainTimeout: this.config.limits.drainTimeoutMs,
      maxTopicLevels: this.config.limits.maxTopicLevels,
      ...mqtt5BrokerOptions(this.config),
    });
    attach(this.broker);
    this.bus?.attach(this.broker, sharedSubscriptions);
    this.sharedSubscriptions = sharedSubscriptions;
    this.broker.on('clientReady', () => this.stats.connectedClients.inc());
    this.broker.on('clientDisconnect', () => this.stats.connectedClients.dec());
    watchConnectionErrors(this.broker, this.log, this.stats);

    const listenerParts = {
      caPems: tls.externalCaPem ? [tls.caPem, tls.externalCaPem] : [tls.caPem],
      certPem: tls.certPem,
      keyPem: tls.keyPem,
      limits,
      identity: {
        ownCa: tls.ca,
        externalCa: external && tls.externalCa
          ? { ca: tls.externalCa, tenantFrom: external.tenantFrom, deviceFrom: external.deviceFrom }
          : undefined,
        isRevoked: (serial: string) => registry.isRevoked(serial),
      },
      log: this.log,
      stats: this.stats,
      onConnection: (socket: Duplex) => {
        this.traffic.track(socket);
        capSubscriptionQos(this.broker!.handle(socket));
      },
      proxyProtocol: this.config.mqtt.proxyProtocol ? { allowFrom: this.config.mqtt.proxyProtocolFrom } : undefined,
      sessionTickets: this.sessionTickets,
      noDelay: this.config.mqtt.tcpNoDelay,
    };
    this.server = createMqttListener(listenerParts);
    await new Promise<void>((resolveListen, reject) => {
      this.server!.once('error', (err: NodeJS.ErrnoException) => reject(new TiqError('TIQ_ERR_LISTEN',
        err.code === 'EADDRINUSE' ? `port ${port} is already in use` : `${err.code ?? ''} ${err.message}`, { cause: err })));
      this.server!.listen(port, this.config.mqtt.host, () => resolveListen());
    });
    this.log.info({ event: 'listening', port: this.mqttPort, host: this.config.mqtt.host }, 'MQTT over mutual TLS listening');
    if (!ws.enabled) return;
    this.wsServers = await startWebSocketListeners(ws, listenerParts, wsPorts);
    if (!this.config.admin.oauth) this.log.warn({ event: 'ws_tokens_unconfigured', code: 'TIQ_ERR_TOKEN_INVALID' }, 'admin.oauth is not set: the WebSocket token port refuses every token (client certificates still work on websocket.mtlsPort)');
  }

  /** The cluster bus (NATS), in cluster mode only. */
  bus: GatewayBus | undefined;
  /** TLS session-ticket keys shared by the cluster's nodes (cluster mode only). */
  private sessionTickets: SessionTicketKeys | undefined;
  /** The MQTT-over-WebSocket listeners, when websocket.enabled. */
  private wsServers: WebSocketServers | undefined;
  /** Shared-subscription groups (`$share/...`), set by listen(). */
  sharedSubscriptions: SharedSubscriptions | undefined;

  /** Bound WebSocket ports: bearer tokens, client certificates (0 when not listening). */
  get wsPorts(): { port: number; mtlsPort: number } {
    return { port: portOf(this.wsServers?.token), mtlsPort: portOf(this.wsServers?.mtls) };
  }

  /**
   * A device's private-mode command (control topic). Privacy first: the mode
   * changes at once; the command is acknowledged only once its audit entry
   * is group-committed, so an audit failure rejects with TIQ_ERR_AUDIT
   * (retryable, no PUBACK) and the device's resend, no longer a change,
   * retries the audit. Past a per-device rate the entry is aggregated.
   */
  private privateModeCommand(tenantId: string, deviceId: string, payload: Buffer): boolean | Promise<boolean> {
    const on = parsePrivateModeCommand(payload);
    if (on === undefined) return false;
    const changed = this.privateMode.isOn(tenantId, deviceId) !== on;
    // In force here at once (set() applies before its commit); every other gateway applies it from the feed.
    const committed = changed ? this.privateMode.set(tenantId, deviceId, on, `device:${deviceId}`, 'control-topic') : undefined;
    if (changed) this.log.info({ event: 'private_mode', tenantId, deviceId, on, source: 'control-topic' }, 'private mode toggled');
    const key = `${tenantId}/${deviceId}`;
    if (!changed && !this.unauditedCommands.has(key)) return true;
    const audited = this.auditPrivateModeCommand(tenantId, deviceId, on, key);
    if (!committed) return audited;
    // No PUBACK until the toggle is committed to the control store (a failure withdraws it; the device resends).
    return Promise.all([committed.catch((err: unknown) => { throw toTiqError(err, 'TIQ_ERR_CONTROL_STORE'); }), audited]).then(() => true);
  }

  /** The audit entry of a control-topic toggle: group-committed, or folded into the summary past the per-device rate. */
  private auditPrivateModeCommand(tenantId: string, deviceId: string, on: boolean, key: string): boolean | Promise<boolean> {
    const subject = `device:${this.admin?.audit.pseudonyms.device(tenantId, deviceId) ?? ''}`;
    const entry = { actor: subject, role: 'device', action: on ? 'private-mode.on' : 'private-mode.off', tenant: tenantId, target: subject, result: 'ok' } as const;
    if (this.admin && !this.privateModeAudits.hit(key)) {
      // Past the per-device rate, a toggle still takes effect (privacy first) but is audited in the per-interval summary.
      this.admin.audit.aggregator.record(`private-mode|${key}|${entry.action}`, entry).catch((err: unknown) => this.logAuditFailure(err));
      this.unauditedCommands.delete(key);
      return true;
    }
    if (!this.admin) return true;
    // Owed until committed: a resend while the commit is in flight audits again rather than not at all.
    this.unauditedCommands.add(key);
    return this.admin.audit.commit(entry).then(() => {
      this.unauditedCommands.delete(key);
      return true;
    }, (err: unknown) => {
      throw toTiqError(err, 'TIQ_ERR_AUDIT');
    });
  }

  /** Abuse limits in force (set by listen()). */
  limits: AbuseLimits | undefined;
  /** OpenTelemetry tracing; undefined (no tracing work at all) unless tracing.endpoint is set. */
  tracer: GatewayTracer | undefined;
  /** The unauthenticated loopback scrape listener, when configured. */
  metricsListener: MetricsListener | undefined;

  get mqttPort(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /**
   * A tenant's policy put through the admin API: validated against the
   * policy in force (a changed policy needs a higher version), persisted,
   * applied to the next message. Throws TIQ_ERR_POLICY_INVALID.
   */
  async putPolicy(tenantId: string, policy: unknown, actor: string): Promise<{ policyId: string; policyVersion: number }> {
    const inForce = await this.policyOverrides.put(this.privacy, privacySourcesFromConfig(this.currentConfig), tenantId, policy, actor);
    this.policiesVersion = this.control.version;
    // The admin API's route audits the call (actor, role, result); the gateway only logs.
    this.log.info({ event: 'policy_put', tenantId, actor, ...inForce }, 'privacy policy replaced through the admin API');
    this.retained.sweep();
    return inForce;
  }

  /** Bound admin ports (0 when the admin API is disabled). */
  adminPorts = { port: 0, mtlsPort: 0 };

  /** Gateway-originated actions go to the same hash-chained audit log as API calls. */
  private audit(entry: { actor: string; role: string; action: string; tenant: string; target: string }): void {
    try {
      this.admin?.audit.commit({ ...entry, result: 'ok' }).catch((err: unknown) => this.logAuditFailure(err));
    } catch (err) {
      this.logAuditFailure(err);
    }
  }

  /** Scheduled backups, when `backup.dir` is set. */
  private backupScheduler: BackupScheduler | undefined;

  /** Cluster mode (the `cluster` section): membership and leadership; undefined otherwise. */
  cluster: ClusterRuntime | undefined;
  private detachCluster: (() => void) | undefined;

  /** What only the cluster's leader runs: retention sweeps and scheduled backups. */
  private leaderJobs(): LeaderJob[] {
    const { sweeper, backupScheduler } = this;
    return [
      ...(sweeper ? [{ name: 'retention-sweeper', start: () => void sweeper.start(), stop: () => sweeper.stop() }] : []),
      ...(backupScheduler ? [{ name: 'scheduled-backups', start: () => backupScheduler.start(), stop: () => backupScheduler.stop() }] : []),
    ];
  }

  /** A gateway-originated action with its outcome (scheduled backups). */
  private auditSystem(entry: { action: string; target: string; result: 'ok' | 'failed'; detail: string }): void {
    this.admin?.audit.commit({ actor: 'system', role: 'system', tenant: '', ...entry }).catch((err: unknown) => this.logAuditFailure(err));
  }

  private logAuditFailure(err: unknown): void {
    this.log.error({ event: 'audit_failed', code: 'TIQ_ERR_AUDIT', reason: (err as Error).message }, 'cannot append to the audit log');
  }

  private unfollowControl: (() => void) | undefined;

  /** Every change in the control store, whoever made it, applies at once (docs/control-store.md). */
  private followControl(): void {
    this.unfollowControl = followControlFeed(this.control, {
      'restriction': () => this.onRestrictionsChange(),
      'revocation': () => this.onRegistryChange(),
      // Cached data keys of a shredded device go everywhere: the next read finds no key (TIQ_ERR_KEY_SHREDDED).
      'shred': (events) => {
        for (const e of events) {
          if (!e.value) continue;
          const shred = e.value;
          this.keys.sealer.forgetDevice(shred.tenantId, shred.deviceId);
          // A shred is an erasure: the device's retained message never outlives it (docs/privacy.md).
          this.retained.clearDevice(shred.tenantId, shred.deviceId);
          this.keys.deviceKeks.applyTombstone(shred).then(() => this.keys.sealer.forgetDevice(shred.tenantId, shred.deviceId), (err: unknown) => {
            this.log.error({ event: 'shred_apply_failed', code: 'TIQ_ERR_KEY_UNAVAILABLE', tenantId: shred.tenantId, reason: (err as Error).message }, 'cannot apply a shred to the device key vault');
          });
        }
      },
      'retention-rule': () => this.onRetentionChange(),
      'tenant-app': (events) => this.onTenantOverridesChange(events),
      'policy': (events) => { if (events.some((e) => e.version > this.policiesVersion)) this.onPolicyChange(); },
      'tenant-group': (events) => this.onTenantOverridesChange(events),
      'legal-hold': () => this.onRetentionChange(),
      // A new primary KEK (rotated through any process): new data keys are wrapped under it from the next message.
      'kek-version': (events) => this.onKekChange(events),
      // The privacy engine reads the replica per message: the change is in force already; this records that it arrived.
      'private-mode': (events) => {
        for (const e of events) this.log.info({ event: 'private_mode_applied', device: e.key, on: e.value?.on ?? false, version: e.version, source: e.value?.source }, 'private mode change applied from the control store');
      },
    }, this.log);
  }

  /**
   * A policy put through another gateway sharing the store: validated like a
   * reload (it was validated where it was put, against that gateway's config),
   * then in force for the next message. A refused one is logged; the policy
   * in force stays.
   */
  private onPolicyChange(): void {
    const sources = this.policyOverrides.apply(privacySourcesFromConfig(this.currentConfig));
    const problems = this.privacy.validate(sources);
    if (problems.length) {
      this.log.error({ event: 'reload_refused', code: 'TIQ_ERR_POLICY_INVALID', source: 'control-store', problems }, 'privacy policy change refused; previous one stays in force');
      return;
    }
    this.privacy.update(sources);
    const policies = Object.fromEntries(this.directory.ids().map((t) => [t, this.privacy.policyOf(t)]));
    this.log.info({ event: 'policy_changed', source: 'control-store', policies }, 'privacy policy changed through the control store');
  }

  /** The control-store version of the policy overrides this gateway put in force itself. */
  private policiesVersion = 0;

  /** The control-store version of the tenant overrides in force. */
  private tenantsVersion = 0;
  private checkpointExporter: CheckpointExporter | undefined;

  /**
   * Apps or device groups changed by another process (another gateway's admin
   * API): checked like a reload, then in force; sessions of a deleted app are
   * closed. A change that does not validate against this gateway's config is
   * refused and logged, and what is in force stays.
   */
  private onTenantOverridesChange(events: readonly { version: number }[]): void {
    if (events.every((e) => e.version <= this.tenantsVersion)) return;
    const source = 'control-store';
    const checked = checkConfig(this.tenantOverrides.apply(this.baseConfig), source, this.candidateChecks(), this.log);
    if (!checked.ok) return;
    const config = keepRunningValues(this.currentConfig, checked.next);
    this.install(config, source, liveChanges(this.currentConfig, config));
    this.tenantsVersion = this.control.version;
  }

  /**
   * A rule or hold changed (by any process): in force for the next message and
   * the next erasure check at once (the policy is read from the replica), then
   * stored records are re-tagged or re-flagged in the sweeper's queue.
   */
  private onRetentionChange(): void {
    void this.retention.load().then((changed) => this.sweeper?.run(() => this.retention.applyChanged(changed))).then(
      (r) => { if (r && (r.retagged > 0 || r.flagged > 0)) this.log.info({ event: 'retention_applied', ...r }, 'retention change applied to stored records'); },
      (err: unknown) => this.log.error({ event: 'retention_apply_failed', code: 'TIQ_ERR_STORE_UNAVAILABLE', reason: (err as Error).message }, 'cannot apply a retention change to stored records; they keep their old tags until the next change or restart'),
    );
  }

  /** The provider re-reads what the other process changed (the local keyring), then the tenant's cached data keys go. */
  private onKekChange(events: readonly ChangeEventOf<'kek-version'>[]): void {
    const rotated = new Map<string, string>();
    for (const e of events) if (e.value?.primary) rotated.set(e.value.tenantId, e.value.kekRef);
    for (const [tenantId, kekRef] of rotated) {
      void this.keys.provider.refresh(tenantId).then(() => {
        this.keys.sealer.forgetTenant(tenantId);
        this.log.info({ event: 'kek_rotation_applied', tenantId, kekRef }, 'new primary key-encryption key applied from the control store');
      }, (err: unknown) => this.log.error({ event: 'kek_refresh_failed', code: toTiqError(err, 'TIQ_ERR_KEY_UNAVAILABLE').code, tenantId, kekRef }, 'cannot re-read the keys after a rotation; cached data keys evicted'));
      // Evicted now as well: even if the re-read fails, no data key of the old primary is used again here.
      this.keys.sealer.forgetTenant(tenantId);
    }
  }

  /** A device restricted with "refuse" is disconnected at once; "drop" applies from its next message. */
  private onRestrictionsChange(): void {
    const restrictions = this.admin?.restrictions;
    if (!restrictions) return;
    this.retained.sweep();
    const closed = closeClientsWhere(this.broker, ({ peer: { identity: id } }) =>
      id.kind === 'device' && restrictions.isRestricted(id.tenantId, id.deviceId) === 'refuse', 'TIQ_ERR_RESTRICTED');
    for (const sessionId of closed) this.log.warn({ event: 'restricted_disconnect', code: 'TIQ_ERR_RESTRICTED', sessionId }, 'restricted device disconnected');
  }

  /** The issuance registry's records, re-read if another process changed it (empty before listening). */
  issuedCertificates(): readonly IssuedRecord[] {
    return this.registry?.list() ?? [];
  }

  /** A revoked certificate's live connections are closed (the CLI or another gateway may revoke while we run). */
  private onRegistryChange(): void {
    const registry = this.registry;
    if (!registry) return;
    const closed = closeClientsWhere(this.broker, (state) => registry.isRevoked(normaliseSerial(state.peer.serial)), 'TIQ_ERR_CERT_REVOKED');
    for (const sessionId of closed) this.log.warn({ event: 'revoked_disconnect', code: 'TIQ_ERR_CERT_REVOKED', sessionId }, 'revoked certificate disconnected');
  }

  /**
   * Applies a changed configuration without restart: tenants, apps, grants and
   * privacy policies, with the admin API's tenant changes merged over it. An
   * invalid file or policy is refused with every problem listed, and what is
   * in force stays in force.
   */
  reload(file: unknown, source = '(reload)'): ReloadResult {
    const raw = this.adaptConfig(file);
    const checked = checkConfig(this.tenantOverrides.apply(raw), source, this.candidateChecks(), this.log);
    if (!checked.ok) return checked;
    this.baseConfig = raw;
    const restart = restartRequiredChanges(this.currentConfig, checked.next);
    if (restart.length) {
      this.log.warn({ event: 'config_restart_required', source, sections: restart }, 'these changes apply only after a restart; their running values stay in force');
    }
    const next = keepRunningValues(this.currentConfig, checked.next);
    const changed = liveChanges(this.currentConfig, next);
    if (changed.length === 0) {
      this.log.info({ event: 'config_unchanged', source }, 'nothing that applies without restart changed');
      return { ok: true };
    }
    this.install(next, source, changed);
    this.audit({ actor: 'system', role: 'system', action: 'config.reload', tenant: '', target: source });
    return { ok: true };
  }

  /** A candidate is checked against the codec's message types and the privacy engine (with the API's policies). */
  private candidateChecks(): CandidateChecks {
    return {
      validatePolicies: (sources) => this.privacy.validate(this.policyOverrides.apply(sources)),
      hasMessageType: (type) => this.codec.hasType(type),
    };
  }

  /**
   * An admin API change of apps, grants or device groups: the base config
   * with the staged state is checked exactly like a reload, then persisted,
   * then in force for the next message (grants, privacy groups, retention).
   * Throws TIQ_ERR_BAD_REQUEST with every problem; a refused change is not persisted.
   */
  async changeTenants(next: TenantOverridesState, change: TenantChange): Promise<void> {
    const source = `admin-api:${change.action}`;
    const checked = checkConfig(this.tenantOverrides.apply(this.baseConfig, next), source, this.candidateChecks(), this.log);
    if (!checked.ok) throw new TiqError('TIQ_ERR_BAD_REQUEST', { problems: checked.problems });
    await this.tenantOverrides.commit(next, change.actor);
    // Installed here, synchronously after the commit: the feed's echo of this change is then already in force.
    const config = keepRunningValues(this.currentConfig, checked.next);
    this.install(config, source, liveChanges(this.currentConfig, config));
    this.tenantsVersion = this.control.version;
    this.log.info({ event: 'tenants_changed', tenantId: change.tenantId, action: change.action, actor: change.actor }, 'tenant settings changed through the admin API');
  }

  /**
   * Everything a checked config changes: privacy sources, tenant directory
   * (ACL, grants), quotas, retention. `next` carries the running values of
   * the sections that need a restart (restart-sections.ts).
   */
  private install(next: GatewayConfig, source: string, changed: readonly string[]): void {
    this.privacy.update(this.policyOverrides.apply(privacySourcesFromConfig(next)));
    this.directory = new TenantDirectory(next);
    this.limits?.setTenantQuotas(Object.fromEntries(Object.entries(next.tenants).map(([t, c]) => [t, c.quotas])));
    this.currentConfig = next;
    if (this.retention.policy.replaceTenants(next.tenants)) {
      // Stored records take the new groups' retention tags; messages already do (retentionFor reads the policy).
      // Queued behind any sweep in progress, never overlapping one; errors are logged, not thrown at the caller.
      void (this.sweeper?.reconcileNow() ?? this.retention.reconcile()).then(
        (r) => this.log.info({ event: 'retention_reconciled', source, ...r }, 'stored records re-tagged after a device-group or retention change'),
        (err: unknown) => this.log.error({ event: 'retention_reconcile_failed', code: 'TIQ_ERR_STORE_UNAVAILABLE', source, reason: (err as Error).message }, 'cannot re-tag stored records; the sweeper keeps the old tags until the next change'),
      );
    }
    this.closeSessionsNoLongerAllowed();
    const policies = Object.fromEntries(this.directory.ids().map((t) => [t, this.privacy.policyOf(t)]));
    this.log.info({ event: 'config_reloaded', source, sections: changed, policies }, 'configuration reloaded');
  }

  /** After a change, live sessions of removed apps and of removed or deactivated tenants end too (least privilege). */
  private closeSessionsNoLongerAllowed(): void {
    const closed = closeClientsWhere(this.broker, ({ peer: { identity: id } }) => {
      if (id.kind === 'operator') return false;
      const tenant = this.directory.get(id.tenantId);
      return !tenant || !tenant.active || (id.kind === 'app' && !tenant.apps.has(id.appId));
    });
    for (const sessionId of closed) this.log.warn({ event: 'access_withdrawn_disconnect', code: 'TIQ_ERR_NOT_AUTHORIZED', sessionId }, 'session closed: its tenant or app is no longer configured');
  }

  private configWatcher: ConfigFileWatcher | undefined;
  private adaptConfig: (raw: unknown) => unknown = (raw) => raw;

  /** Applies changes of the config file without restart. */
  watchConfig(path: string): void {
    this.configWatcher = new ConfigFileWatcher(path, (raw, source) => this.reload(raw, source), this.log);
  }

  /** SIGHUP lands here. */
  reloadFromFile(): ReloadResult | undefined {
    return this.configWatcher?.reloadNow();
  }

  /** Stops accepting connections, lets in-flight publishes finish (bounded), then closes. */
  async close(drainMs = 5000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.unfollowControl?.();
    this.configWatcher?.close();
    // Leadership and membership go first: another node takes the jobs while this one drains.
    this.detachCluster?.();
    await this.cluster?.close();
    await this.adminServer?.close();
    // Summaries of folded audit events are written before the process goes.
    await this.admin?.audit.aggregator.close().catch((err: unknown) => this.logAuditFailure(err));
    await this.metricsListener?.close();
    this.server?.close();
    closeWebSocketListeners(this.wsServers);
    this.sessionTickets?.close();
    const deadline = Date.now() + drainMs;
    while (Date.now() < deadline && pendingPublishes(this.broker) > 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise<void>((r) => (this.broker ? this.broker.close(() => r()) : r()));
    // aedes closes its emitter; this covers a start that failed before the broker existed.
    await this.bus?.close();
    if (this.dekSweep) clearInterval(this.dekSweep);
    await this.backupScheduler?.close();
    await this.sweeper?.close();
    await this.keys?.close();
    await this.storage?.close();
    await this.tracer?.close().catch((err: unknown) => this.log.warn({ event: 'tracing_flush_failed', err: err instanceof Error ? err.message : String(err) }, 'traces not exported at close'));
    await this.auditHead?.flush();
    await this.admin?.audit.close?.();
    await this.checkpointExporter?.close();
    await this.control.close();
    this.dataDirLock?.release();
    this.log.info({ event: 'closed' }, 'gateway closed');
  }
}
