/** Working-hours schedules compiled to minute ranges per weekday and per exception date. */
import { createLocalClock, type LocalTime } from './local-time.ts';
import { minutesOf, WEEKDAYS, type IntervalConfig, type ScheduleConfig } from '../config/schedule-config.ts';

export interface CompiledSchedule {
  readonly outside: 'strip' | 'drop';
  /** True when the instant falls inside working hours in the tenant's time zone. */
  isWorking(utcMs: number): boolean;
}

type Ranges = Int32Array; // [from0, to0, from1, to1, ...] in minutes of the day

function toRanges(intervals: readonly IntervalConfig[] | undefined): Ranges {
  const out = new Int32Array((intervals?.length ?? 0) * 2);
  intervals?.forEach((i, k) => { out[2 * k] = minutesOf(i.from); out[2 * k + 1] = minutesOf(i.to); });
  return out;
}

function inRanges(ranges: Ranges, minute: number): boolean {
  for (let k = 0; k < ranges.length; k += 2) if (minute >= ranges[k]! && minute < ranges[k + 1]!) return true;
  return false;
}

export function compileSchedule(schedule: ScheduleConfig, timeZone: string): CompiledSchedule {
  const clock = createLocalClock(timeZone);
  const weekly = WEEKDAYS.map((d) => toRanges(schedule.workingHours[d]));
  const exceptions = new Map(schedule.exceptions.map((e) => [e.date, toRanges(e.hours)]));
  const scratch: LocalTime = { weekday: 0, date: '', minuteOfDay: 0 };
  return {
    outside: schedule.outside,
    isWorking(utcMs) {
      const t = clock.at(utcMs, scratch);
      const ranges = exceptions.get(t.date) ?? weekly[t.weekday];
      return ranges !== undefined && inRanges(ranges, t.minuteOfDay);
    },
  };
}
