/** Privacy policy configuration (per tenant). Filled by the privacy engine. */
import { z } from 'zod';

export const PrivacyConfigSchema = z.object({}).strict();
export type PrivacyConfig = z.infer<typeof PrivacyConfigSchema>;
