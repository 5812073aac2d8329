/** `controlStore:` in the gateway config: where the operator-owned state lives (docs/control-store.md). */
import { z } from 'zod';

export const ControlStoreConfigSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('sqlite'),
    /** Relative paths resolve against dataDir. Never the telemetry sink's file. */
    path: z.string().min(1).default('control.db'),
  }).strict(),
  z.object({
    type: z.literal('postgres'),
    connectionString: z.string().min(1),
    /** Backstop poll; LISTEN/NOTIFY delivers changes at once. */
    pollIntervalMs: z.number().int().min(100).max(600_000).default(5000),
  }).strict(),
]);

export type ControlStoreConfig = z.infer<typeof ControlStoreConfigSchema>;
export const DEFAULT_CONTROL_STORE: ControlStoreConfig = { type: 'sqlite', path: 'control.db' };
