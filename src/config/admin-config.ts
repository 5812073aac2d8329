/**
 * The `admin` section of the gateway config. Two HTTPS listeners (see
 * docs/admin.md, "Two listeners"): `port` for bearer tokens, `mtlsPort` for
 * operator and app certificates, which OpenSSL verifies at the handshake.
 */
import { z } from 'zod';

export const ROLES = ['operator', 'tenant-admin', 'tenant-reader'] as const;
export const RoleSchema = z.enum(ROLES);
export type Role = z.infer<typeof RoleSchema>;

export const OAuthConfigSchema = z.object({
  /** Expected `iss`. */
  issuer: z.string().min(1),
  /** Expected `aud` (one of them when the token has several). */
  audience: z.string().min(1),
  /** JWKS of the issuer, fetched and cached (jose createRemoteJWKSet). */
  jwksUrl: z.url().optional(),
  /** Or a local JWKS file, read at start (air-gapped installations). */
  jwksFile: z.string().min(1).optional(),
  /** Claim naming the role: a role name or an array of them; the strongest known one counts. */
  rolesClaim: z.string().min(1).default('roles'),
  /** Claim naming the tenant of a tenant-admin or tenant-reader. */
  tenantClaim: z.string().min(1).default('tenant'),
  /** `amr` values (RFC 8176) that count as multi-factor. */
  mfaAmr: z.array(z.string().min(1)).min(1).default(['mfa', 'otp', 'hwk', 'swk', 'sms', 'fpt', 'face', 'iris']),
  /** Roles whose tokens must carry one of mfaAmr. */
  mfaRequiredFor: z.array(RoleSchema).default(['operator']),
  /** Allowed signature algorithms; never `none` or HMAC (a shared secret is not a JWKS). */
  algorithms: z.array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])).min(1)
    .default(['RS256', 'PS256', 'ES256', 'EdDSA']),
  clockToleranceS: z.number().int().min(0).max(300).default(30),
}).strict().refine((o) => (o.jwksUrl === undefined) !== (o.jwksFile === undefined), { message: 'exactly one of jwksUrl and jwksFile' });

/** The web console's OAuth client (authorization code with PKCE, RFC 7636); tokens are checked as `oauth` says. */
export const ConsoleOAuthSchema = z.object({
  clientId: z.string().min(1),
  authorizationEndpoint: z.url(),
  tokenEndpoint: z.url(),
  scope: z.string().min(1).default('openid'),
  /** `acr_values` asked for when the console sends the user back to step up (RFC 9470). */
  stepUpAcr: z.string().min(1).default('mfa'),
  /** Where the issuer sends the browser back; default: this listener's `/console/auth/callback` as the browser named it. */
  redirectUri: z.url().optional(),
  /** CA bundle (PEM file) trusted for the token endpoint besides the system's; relative to the config file. */
  caFile: z.string().min(1).optional(),
}).strict();

/** The web console on the bearer listener (docs/console.md). */
export const ConsoleConfigSchema = z.object({
  enabled: z.boolean().default(true),
  /** A session unused this long ends. */
  idleTimeoutS: z.number().int().min(60).max(86_400).default(900),
  /** A session ends this long after sign-in, however busy. */
  absoluteTimeoutS: z.number().int().min(300).max(7 * 86_400).default(28_800),
  oauth: ConsoleOAuthSchema.optional(),
}).strict();

export const AdminConfigSchema = z.object({
  enabled: z.boolean().default(true),
  host: z.string().default('0.0.0.0'),
  /** Bearer-token listener (server-authenticated TLS). */
  port: z.number().int().min(0).max(65535).default(8443),
  /** Certificate listener (mutual TLS with the gateway's CA). */
  mtlsPort: z.number().int().min(0).max(65535).default(8444),
  /** Role of app certificates, by `tenant/app`; apps not listed are tenant-reader. */
  appRoles: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}\/[a-z0-9][a-z0-9-]{0,62}$/), z.enum(['tenant-admin', 'tenant-reader'])).default({}),
  oauth: OAuthConfigSchema.optional(),
  /** Largest request body, bytes (a preview posts a trace); larger is answered 413 TIQ_ERR_BODY_TOO_LARGE. */
  bodyLimitBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
  /**
   * Each listener: open connections (more are closed at once, so idle admin
   * sockets cannot take the descriptors MQTT devices need), the time a TLS
   * handshake may take, how long a socket may sit idle, and how long a request may take to arrive.
   */
  maxConnections: z.number().int().min(1).max(100_000).default(256),
  handshakeTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  idleTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  requestTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  /**
   * Device groups a tenant may have, and devices in one group, set through the
   * API (TIQ_ERR_GROUP_LIMIT beyond): every change re-checks the whole
   * configuration, so their size bounds the work of one request.
   */
  maxDeviceGroups: z.number().int().min(1).max(100_000).default(100),
  maxGroupDevices: z.number().int().min(1).max(1_000_000).default(1000),
  /**
   * Replay of stored records (docs/storage.md, "Replay"): a record is served
   * once this long has passed since it was received (plus the tenant's policy
   * time step), so that a page never passes a record still on its way to the
   * sink; and how often a tail looks for new records.
   */
  replaySettleMs: z.number().int().min(0).max(600_000).default(2000),
  tailPollMs: z.number().int().min(50).max(60_000).default(500),
  console: ConsoleConfigSchema.prefault({}),
}).strict();

export type AdminConfig = z.infer<typeof AdminConfigSchema>;
export type OAuthConfig = z.infer<typeof OAuthConfigSchema>;
export type ConsoleConfig = z.infer<typeof ConsoleConfigSchema>;
