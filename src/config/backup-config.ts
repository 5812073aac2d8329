/**
 * `backup:` in the gateway config: which key store wraps backup keys, and
 * the gateway's scheduled backups with the number of files kept
 * (docs/operations.md, "Backups").
 */
import { z } from 'zod';

export const BackupConfigSchema = z.object({
  /** Who wraps the backup key; default the gateway-wide `keys.provider`. */
  keyProvider: z.enum(['local', 'aws-kms']).optional(),
  /** KMS key (id, ARN or alias) for backup keys; required when keyProvider is aws-kms. */
  kmsKeyId: z.string().min(1).max(2048).optional(),
  /** Directory for scheduled backups; no schedule without it. Keep it off the data directory's disk. */
  dir: z.string().min(1).optional(),
  /** Time between scheduled backups (minimum 1 s; a day by default). */
  intervalMs: z.number().int().min(1000).max(366 * 86_400_000).default(86_400_000),
  /** Scheduled backup files kept in `dir`; older ones are deleted after each new one. */
  keep: z.number().int().min(1).max(10_000).default(7),
}).strict().superRefine((b, ctx) => {
  if (b.keyProvider === 'aws-kms' && !b.kmsKeyId) ctx.addIssue({ code: 'custom', path: ['kmsKeyId'], message: 'required when keyProvider is aws-kms' });
});

export type BackupConfig = z.infer<typeof BackupConfigSchema>;
