/**
 * A tenant's `privacy` section: the location-privacy policy (issue 3).
 *
 * The same schema serves `tenants.<id>.privacy` in the gateway config and the
 * standalone policy file (policy-file.ts). Unknown keys are rejected
 * everywhere; cross-field problems are reported together with the rest.
 */
import { z } from 'zod';
import { RuleSchema, StreamRulesSchema } from './rule-config.ts';
import { ScheduleSchema } from './schedule-config.ts';
import { ZoneSchema } from './zone-config.ts';

const PolicyId = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'policy ids match ^[a-z0-9][a-z0-9._-]{0,63}$');
const DeviceId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'device ids match ^[a-z0-9][a-z0-9-]{0,62}$');

const knownTimeZones = new Map<string, boolean>();

/** True when the runtime knows the IANA time zone. Remembered: building a formatter costs ~0.1 ms, and every config check asks. */
export function isKnownTimeZone(tz: string): boolean {
  let known = knownTimeZones.get(tz);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      known = true;
    } catch {
      known = false;
    }
    if (knownTimeZones.size < 1000) knownTimeZones.set(tz, known);
  }
  return known;
}

/**
 * Privacy by default (GDPR Art. 25(2)): a policy that names no default rule
 * coarsens every stream to 1 km cells rather than keeping exact positions.
 */
export const DEFAULT_STREAM_RULES = { '*': { action: 'coarsen', coarsen: { method: 'grid', cellM: 1000 } } } as const;

export const GroupOverrideSchema = z.object({
  /** A group of the tenant's `deviceGroups`. */
  group: DeviceId,
  rules: StreamRulesSchema,
}).strict();

export const PrivateModeConfigSchema = z.object({
  /** What private mode does to a message: strip location (default) or drop the message. */
  action: z.enum(['strip', 'drop']).default('strip'),
}).strict();

export const PrivacyConfigSchema = z.object({
  policyId: PolicyId,
  /** Increases on every change; travels with every record (AppliedPolicy). */
  version: z.number().int().min(1).max(0xffff_ffff),
  /** IANA time zone of the schedule, e.g. Europe/Berlin. */
  timezone: z.string().min(1).default('UTC').refine(isKnownTimeZone, { message: 'unknown IANA time zone' }),
  /** Rules per stream (`*` = any stream) for every device of the tenant. */
  defaults: StreamRulesSchema.default(DEFAULT_STREAM_RULES as never),
  /** Overrides per device group; the first listed group the device belongs to wins. */
  groups: z.array(GroupOverrideSchema).max(1000).default([]),
  /** Overrides per device; win over groups. */
  devices: z.record(DeviceId, StreamRulesSchema).default({}),
  /** Zones override everything but private mode. */
  zones: z.array(ZoneSchema).max(10_000).default([]),
  schedule: ScheduleSchema.optional(),
  privateMode: PrivateModeConfigSchema.prefault({}),
}).strict().superRefine((p, ctx) => {
  if (!('*' in p.defaults)) {
    ctx.addIssue({ code: 'custom', path: ['defaults'], message: 'defaults needs a "*" rule so every stream has one' });
  }
  const seenGroups = new Set<string>();
  p.groups.forEach((g, i) => {
    if (seenGroups.has(g.group)) ctx.addIssue({ code: 'custom', path: ['groups', i, 'group'], message: `group ${g.group} is listed twice` });
    seenGroups.add(g.group);
  });
  const seenZones = new Set<string>();
  p.zones.forEach((z, i) => {
    if (seenZones.has(z.name)) ctx.addIssue({ code: 'custom', path: ['zones', i, 'name'], message: `zone name ${z.name} is used twice` });
    seenZones.add(z.name);
  });
});

export type PrivacyConfig = z.infer<typeof PrivacyConfigSchema>;
export type PrivacyConfigInput = z.input<typeof PrivacyConfigSchema>;
export type GroupOverride = z.infer<typeof GroupOverrideSchema>;
export { RuleSchema };
export type { Rule, StreamRules, CoarsenConfig, FieldRule, GeoIndistinguishabilityConfig, LocationAction } from './rule-config.ts';
export type { ZoneConfig } from './zone-config.ts';
export type { ScheduleConfig } from './schedule-config.ts';
