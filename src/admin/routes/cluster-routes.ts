/**
 * `GET /v1/cluster/members`: the cluster's membership table as PostgreSQL
 * holds it (docs/cluster.md), with which node answered and whether it leads
 * the cluster-wide jobs. Operators only: it names hosts and process ids.
 * A gateway without the `cluster` section answers `{ cluster: false }`.
 */
import { route, type RouteContext } from './route.ts';

export function registerClusterRoutes({ app, deps }: RouteContext): void {
  route(app, 'GET', '/v1/cluster/members', { needs: 'operator', action: 'cluster.members' }, async () => {
    const cluster = deps.cluster;
    if (!cluster) return { cluster: false, members: [] };
    return { cluster: true, nodeId: cluster.nodeId, leader: cluster.isLeader(), liveNodes: cluster.liveNodes(), members: await cluster.members() };
  });
}
