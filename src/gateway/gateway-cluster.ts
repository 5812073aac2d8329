/**
 * Cluster mode's wiring (the `cluster` config section; docs/cluster.md):
 * the refusals checked before anything opens, the membership table and the
 * leader election that make up the ClusterRuntime, and what they drive in
 * this gateway: tenant quotas divided by the live nodes, the cluster-wide
 * jobs run by the leader only, and the cluster metrics. Without the section
 * none of this runs.
 */
import { existsSync } from 'node:fs';
import type { ClusterRuntime } from '../cluster/cluster-runtime.ts';
import { assertClusterReady } from '../cluster/cluster-checks.ts';
import { LeaderElection } from '../cluster/leader-election.ts';
import { Membership } from '../cluster/membership.ts';
import { clusterNodeId } from '../cluster/node-id.ts';
import type { GatewayStats } from '../broker/stats.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { TiqError } from '../errors.ts';
import type { AbuseLimits } from '../limits/abuse-limits.ts';
import type { Logger } from '../log.ts';
import { initPki, pkiPaths, type InitResult } from '../pki/pki-store.ts';

/** A cluster-wide job: runs on the leader only, stopped the moment leadership is lost. */
export interface LeaderJob {
  readonly name: string;
  start(): void;
  stop(): void;
}

/** Everything cluster mode refuses, at once (TIQ_ERR_CONFIG), before any store opens. */
export function checkClusterStart(config: GatewayConfig, baseDir: string): void {
  assertClusterReady(config, baseDir);
}

/** The PKI as cluster mode allows it: never a new CA; a server certificate only where the shared CA's key is. */
export function preparePki(config: GatewayConfig, pkiDir: string): InitResult {
  const options = { keyType: config.pkiKeyType };
  if (!config.cluster) return initPki(pkiDir, config.mqtt.serverHosts, options);
  const p = pkiPaths(pkiDir);
  if (existsSync(p.caCert) && existsSync(p.serverCert) && existsSync(p.serverKey)) return { createdCa: false, createdServer: false };
  if (!existsSync(p.caCert) || !existsSync(p.caKey)) {
    throw new TiqError('TIQ_ERR_CONFIG', { problems: [`pkiDir: cluster mode never generates a PKI; ${pkiDir} needs the shared CA and this node's server certificate`] });
  }
  return initPki(pkiDir, config.mqtt.serverHosts, options);
}

/** Joins the membership table and the leader election; undefined without a `cluster` section. */
export async function startClusterRuntime(config: GatewayConfig, log: Logger, worker?: number): Promise<ClusterRuntime | undefined> {
  const cluster = config.cluster;
  if (!cluster) return undefined;
  if (config.controlStore?.type !== 'postgres') throw new TiqError('TIQ_ERR_CONFIG', { problems: ['controlStore: cluster mode needs the PostgreSQL control store'] });
  // A worker's default id is made from the primary's pid, so a restarted worker takes over its predecessor's row.
  const nodeId = worker === undefined ? clusterNodeId(cluster.nodeId) : clusterNodeId(cluster.nodeId, worker, undefined, process.ppid);
  const settings = { connectionString: config.controlStore.connectionString, nodeId, heartbeatMs: cluster.heartbeatMs, memberTimeoutMs: cluster.memberTimeoutMs, logger: log };
  const membership = await Membership.join(settings);
  const election = new LeaderElection(settings);
  await election.start();
  log.info({ event: 'cluster_joined', nodeId, liveNodes: membership.liveNodes, leader: election.isLeader }, `joined the cluster as ${nodeId}`);
  return {
    nodeId,
    liveNodes: () => membership.liveNodes,
    onMembershipChange: (l) => membership.onChange(l),
    isLeader: () => election.isLeader,
    onLeadership: (l) => election.onLeadership(l),
    members: () => membership.members(),
    close: async () => {
      // Jobs stop first (stepping down), then the others see one node fewer at their next heartbeat.
      await election.close();
      await membership.close();
    },
  };
}

/**
 * Ties the runtime to this gateway: quotas follow the live-node count, the
 * jobs follow the leadership (started now if this node leads already), and
 * the metrics read both. Returns the detach.
 */
export function attachCluster(runtime: ClusterRuntime, parts: { limits: AbuseLimits | undefined; stats: GatewayStats; jobs: readonly LeaderJob[]; log: Logger }): () => void {
  const { limits, stats, jobs, log } = parts;
  limits?.setLiveNodes(runtime.liveNodes());
  const offMembers = runtime.onMembershipChange((n) => limits?.setLiveNodes(n));
  const lead = (leader: boolean): void => {
    for (const job of jobs) {
      if (leader) job.start();
      else job.stop();
    }
    log.info({ event: leader ? 'cluster_jobs_started' : 'cluster_jobs_stopped', jobs: jobs.map((j) => j.name) }, leader ? 'cluster-wide jobs run on this node' : 'cluster-wide jobs stopped on this node');
  };
  const offLeader = runtime.onLeadership(lead);
  if (runtime.isLeader()) lead(true);
  stats.gaugeFrom('thingiq_cluster_live_nodes', 'Gateway nodes whose heartbeat in the membership table is younger than cluster.memberTimeoutMs', [],
    () => [[{}, runtime.liveNodes()]]);
  stats.gaugeFrom('thingiq_cluster_leader', 'Whether this node is the leader that runs the cluster-wide jobs (1) or not (0)', [],
    () => [[{}, runtime.isLeader() ? 1 : 0]]);
  return () => {
    offMembers();
    offLeader();
  };
}
