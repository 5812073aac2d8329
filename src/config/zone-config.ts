/**
 * Privacy zones: places (homes, depots, clinics) inside which location is
 * stripped or the message dropped, whatever else the policy says.
 */
import { z } from 'zod';

export const LatSchema = z.number().min(-90).max(90);
export const LonSchema = z.number().min(-180).max(180);
export const GeoPointSchema = z.object({ lat: LatSchema, lon: LonSchema }).strict();
export type GeoPointConfig = z.infer<typeof GeoPointSchema>;

export const ZoneActionSchema = z.enum(['strip', 'drop']);

const ZoneName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/, 'zone names are 1..64 letters, digits, space, _ . -');

export const CircleZoneSchema = z.object({
  name: ZoneName,
  shape: z.literal('circle'),
  center: GeoPointSchema,
  radiusM: z.number().positive().max(1_000_000),
  action: ZoneActionSchema.default('strip'),
}).strict();

/**
 * A polygon ring of at least three vertices, closed implicitly. Each edge spans
 * less than 180° of longitude, so rings crossing the antimeridian are
 * unambiguous (the shorter way round is meant).
 */
export const PolygonZoneSchema = z.object({
  name: ZoneName,
  shape: z.literal('polygon'),
  ring: z.array(GeoPointSchema).min(3).max(10_000),
  action: ZoneActionSchema.default('strip'),
}).strict().superRefine((zone, ctx) => {
  const ring = zone.ring;
  const distinct = new Set(ring.map((p) => `${p.lat},${p.lon}`));
  if (distinct.size < 3) ctx.addIssue({ code: 'custom', path: ['ring'], message: 'a polygon needs at least 3 distinct vertices' });
  const poleTouch = ring.some((p) => Math.abs(p.lat) === 90);
  if (poleTouch) ctx.addIssue({ code: 'custom', path: ['ring'], message: 'polygon vertices may not lie on a pole; use a circle around the pole' });
});

export const ZoneSchema = z.discriminatedUnion('shape', [CircleZoneSchema, PolygonZoneSchema]);
export type ZoneConfig = z.infer<typeof ZoneSchema>;
