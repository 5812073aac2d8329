/** Storage and retention configuration. Filled by the sinks module. */
import { z } from 'zod';

export const StorageConfigSchema = z.object({}).strict();
export type StorageConfig = z.infer<typeof StorageConfigSchema>;
export const TenantRetentionConfigSchema = z.object({}).strict();
