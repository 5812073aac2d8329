/**
 * The `websocket` section: MQTT over WebSocket over TLS for tenant
 * applications (docs/admin.md, "MQTT over WebSocket"). Browsers cannot
 * present a client certificate at will nor set headers on a WebSocket, so
 * the token port takes a bearer JWT (the admin API's OAuth rules) in the
 * CONNECT password; the certificate port is the mutual-TLS twin, kept apart
 * for the reason the admin API has two listeners: a port that requests a
 * certificate and verifies it cannot also admit clients without one.
 * Off unless enabled: a production config opens no port it does not name.
 */
import { z } from 'zod';

const Port = z.number().int().min(0).max(65535);

export const WebSocketConfigSchema = z.object({
  enabled: z.boolean().default(false),
  host: z.string().default('0.0.0.0'),
  /** Bearer-token listener (server-authenticated TLS; the JWT in the CONNECT password or the upgrade's Authorization header). */
  port: Port.default(8884),
  /** Client-certificate listener (mutual TLS with the gateway's CA); absent: none. */
  mtlsPort: Port.optional(),
  /**
   * Claim that binds a token to one app of its tenant. A token carrying it
   * may act only as that app; the MQTT username `token` (or none) means "the
   * app this claim names".
   */
  appClaim: z.string().min(1).default('app'),
}).strict();

export type WebSocketConfig = z.infer<typeof WebSocketConfigSchema>;
