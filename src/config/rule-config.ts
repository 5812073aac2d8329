/**
 * The rule applied to one stream's location: an action, how to coarsen, what
 * to do with the fields that leak location, and how coarse device time gets.
 */
import { z } from 'zod';

export const LOCATION_ACTIONS = ['keep', 'coarsen', 'strip', 'drop'] as const;
export const LocationActionSchema = z.enum(LOCATION_ACTIONS);
export type LocationAction = z.infer<typeof LocationActionSchema>;

/** Snap to the centre of cells of `cellM` metres in the Lambert cylindrical equal-area projection. */
export const GridCoarsenSchema = z.object({
  method: z.literal('grid'),
  cellM: z.number().min(1).max(1_000_000),
}).strict();

/** Geohash cell of the given length (1..12 characters); its centre is emitted. */
export const GeohashCoarsenSchema = z.object({
  method: z.literal('geohash'),
  precision: z.number().int().min(1).max(12),
}).strict();

/** Round latitude and longitude to a number of decimal places. */
export const DecimalCoarsenSchema = z.object({
  method: z.literal('decimal'),
  places: z.number().int().min(0).max(7),
}).strict();

export const CoarsenSchema = z.discriminatedUnion('method', [GridCoarsenSchema, GeohashCoarsenSchema, DecimalCoarsenSchema]);
export type CoarsenConfig = z.infer<typeof CoarsenSchema>;

/** keep | strip | { round: step } for one leaking field. */
export const FieldRuleSchema = z.union([
  z.enum(['keep', 'strip']),
  z.object({ round: z.number().positive().max(1_000_000) }).strict(),
]);
export type FieldRule = z.infer<typeof FieldRuleSchema>;

export const LEAKING_FIELDS = ['speed', 'heading', 'altitude', 'accuracy'] as const;
export type LeakingField = (typeof LEAKING_FIELDS)[number];

export const FieldsSchema = z.object({
  speed: FieldRuleSchema.optional(),
  heading: FieldRuleSchema.optional(),
  altitude: FieldRuleSchema.optional(),
  accuracy: FieldRuleSchema.optional(),
}).strict();

/**
 * Planar Laplace noise (Andrés et al., "Geo-Indistinguishability", CCS 2013).
 * ε is per metre: ε·r is the privacy level within radius r (ln 4 within 200 m
 * is ε ≈ 0.0069). The noisy point is reused while the device stays within
 * `stickyRadiusM` of where it was drawn: fresh noise per report averages away.
 */
export const GeoIndistinguishabilitySchema = z.object({
  epsilonPerM: z.number().positive().max(1),
  stickyRadiusM: z.number().min(0).max(100_000).default(100),
}).strict();
export type GeoIndistinguishabilityConfig = z.infer<typeof GeoIndistinguishabilitySchema>;

export const RuleSchema = z.object({
  action: LocationActionSchema,
  coarsen: CoarsenSchema.optional(),
  /**
   * Leaking fields. Unset fields are kept under `keep` and stripped under
   * `coarsen` (speed and heading with timestamps allow dead reckoning inside a
   * cell; EDPB Guidelines 01/2020 §2.1.2, data minimisation).
   */
  fields: FieldsSchema.optional(),
  /** Floor the device timestamp to this step (e.g. 60000). */
  timeStepMs: z.number().int().min(1).max(86_400_000).optional(),
  geoIndistinguishability: GeoIndistinguishabilitySchema.optional(),
}).strict().superRefine((rule, ctx) => {
  if (rule.action === 'coarsen' && !rule.coarsen) {
    ctx.addIssue({ code: 'custom', path: ['coarsen'], message: 'action coarsen needs a coarsen method (grid, geohash or decimal)' });
  }
  if (rule.action !== 'coarsen' && rule.coarsen) {
    ctx.addIssue({ code: 'custom', path: ['coarsen'], message: `coarsen has no effect with action ${rule.action}` });
  }
  if ((rule.action === 'strip' || rule.action === 'drop') && rule.fields) {
    ctx.addIssue({ code: 'custom', path: ['fields'], message: `fields has no effect with action ${rule.action}: all leaking fields are removed` });
  }
  if ((rule.action === 'strip' || rule.action === 'drop') && rule.geoIndistinguishability) {
    ctx.addIssue({ code: 'custom', path: ['geoIndistinguishability'], message: `geoIndistinguishability has no effect with action ${rule.action}` });
  }
});
export type Rule = z.infer<typeof RuleSchema>;

/** Stream names as in the gateway config, plus `*` for every stream. */
export const StreamKeySchema = z.string().regex(/^(\*|[a-z][a-z0-9-]{0,31})$/, 'a stream name or *');

/** Rules per stream. */
export const StreamRulesSchema = z.record(StreamKeySchema, RuleSchema);
export type StreamRules = z.infer<typeof StreamRulesSchema>;
