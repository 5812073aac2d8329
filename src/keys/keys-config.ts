/** Key provider configuration. Filled by the keys module. */
import { z } from 'zod';

export const KeysConfigSchema = z.object({}).strict();
export type KeysConfig = z.infer<typeof KeysConfigSchema>;
export const TenantKeysConfigSchema = z.object({}).strict();
