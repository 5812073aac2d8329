/**
 * The `audit` section: copies of the audit checkpoint kept outside the data
 * directory, so that someone able to rewrite the log, its checkpoint and even
 * the chain key on this host is still caught by a copy they cannot reach.
 */
import { z } from 'zod';

export const CheckpointExportSchema = z.object({
  /** A file (best on another file system or a write-once mount): each new checkpoint is appended as one JSON line. */
  file: z.string().min(1).optional(),
  /** An HTTPS endpoint that receives each new checkpoint as a JSON POST. */
  url: z.url({ protocol: /^https$/, error: 'checkpoint webhooks must use https' }).optional(),
  /** PEM CA bundle for the webhook's certificate (else the system's CAs). */
  caFile: z.string().min(1).optional(),
  /** How often a changed checkpoint is exported. */
  intervalMs: z.number().int().min(1000).max(86_400_000).default(300_000),
}).strict().refine((e) => e.file !== undefined || e.url !== undefined, { message: 'name a file, a url or both' });

export const AuditConfigSchema = z.object({
  checkpointExport: CheckpointExportSchema.optional(),
}).strict();

export type CheckpointExportConfig = z.infer<typeof CheckpointExportSchema>;
