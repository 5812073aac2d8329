/**
 * The `cluster` section: several gateway processes (on one machine with
 * `thingiq start --workers N`, or on several machines) serving one fleet
 * (docs/scaling.md). Absent, the gateway is one self-contained process and
 * needs no other service. Present, every node is stateless apart from caches
 * kept fresh by the control store's change feed: the operator state and the
 * telemetry live in PostgreSQL, live fan-out between nodes goes over NATS.
 */
import { z } from 'zod';

const NodeId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'node ids match ^[a-z0-9][a-z0-9-]{0,62}$');

export const ClusterConfigSchema = z.object({
  /**
   * This node's name in the membership table, the leader lock and logs.
   * Absent: the host name (lower-cased, cut to an id) and the process id.
   * With `--workers N` each worker appends `-w{i}`.
   */
  nodeId: NodeId.optional(),
  nats: z.object({
    /** NATS server URLs (`nats://host:4222`, or `tls://` with `tls`). */
    servers: z.array(z.string().min(1)).min(1),
    /** Prefix of every subject the gateway publishes or subscribes. */
    subjectPrefix: z.string().regex(/^[a-z0-9_-]{1,32}$/).default('tiq'),
    /** Messages held for the bus while NATS is unreachable; beyond it the oldest are dropped (counted). */
    maxPendingMessages: z.number().int().min(0).max(10_000_000).default(10_000),
    /** TLS to NATS: the CA that signs its certificate; client certificate and key when NATS asks for one. */
    tls: z.object({
      caFile: z.string().min(1),
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
    }).strict().optional(),
    /** A file holding the NATS credentials token or user password, when NATS requires one. */
    tokenFile: z.string().min(1).optional(),
  }).strict(),
  /**
   * TLS session tickets: every node derives the same ticket keys from this
   * secret and the current period, so a session made on one node resumes on
   * another. The file holds at least 32 random bytes (mode 0600); required.
   */
  sessionTickets: z.object({
    secretFile: z.string().min(1),
    /** How long one ticket key is issued with; tickets of the previous period still resume. */
    rotationS: z.number().int().min(60).max(7 * 24 * 3600).default(3600),
  }).strict(),
  /** How often a node renews its row in the membership table. */
  heartbeatMs: z.number().int().min(100).max(60_000).default(2000),
  /** A member whose heartbeat is older than this is no longer counted live. */
  memberTimeoutMs: z.number().int().min(300).max(600_000).default(6000),
}).strict();

export type ClusterConfig = z.infer<typeof ClusterConfigSchema>;
