/**
 * Working hours in the tenant's time zone. Outside them a chosen action
 * applies (EDPB Guidelines 01/2020 §2.1.3 and CNIL deliberation 2015-165:
 * no tracking of employees outside working time).
 */
import { z } from 'zod';

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const ClockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'HH:MM between 00:00 and 24:00');

/** [from, to) in local wall-clock time. Use two intervals for a night shift. */
export const IntervalSchema = z.object({ from: ClockTime, to: ClockTime }).strict()
  .refine((i) => minutesOf(i.from) < minutesOf(i.to), { message: 'from must be before to (split intervals at midnight)' });
export type IntervalConfig = z.infer<typeof IntervalSchema>;

const DayHours = z.array(IntervalSchema).max(24);

export const ScheduleExceptionSchema = z.object({
  /** Local date YYYY-MM-DD (e.g. a public holiday). */
  date: z.iso.date(),
  /** Working hours that day; empty means not a working day. */
  hours: DayHours.default([]),
}).strict();

export const ScheduleSchema = z.object({
  /** Working hours per weekday; a missing weekday has none. */
  workingHours: z.object(Object.fromEntries(WEEKDAYS.map((d) => [d, DayHours.optional()])) as Record<Weekday, z.ZodOptional<typeof DayHours>>).strict(),
  exceptions: z.array(ScheduleExceptionSchema).max(1000).default([]),
  /** What happens to location outside working hours. */
  outside: z.enum(['strip', 'drop']).default('strip'),
}).strict().superRefine((s, ctx) => {
  const seen = new Set<string>();
  s.exceptions.forEach((e, i) => {
    if (seen.has(e.date)) ctx.addIssue({ code: 'custom', path: ['exceptions', i, 'date'], message: `duplicate exception date ${e.date}` });
    seen.add(e.date);
  });
});
export type ScheduleConfig = z.infer<typeof ScheduleSchema>;

export function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}
