/**
 * Wall-clock time in an IANA time zone, through Intl (the runtime's tz
 * database), so DST rules are the ones the runtime ships.
 *
 * formatToParts costs microseconds; the zone offset is cached per UTC minute
 * (offset changes happen on whole minutes in the tz database since 1970).
 */

export interface LocalTime {
  /** 0 = Sunday. */
  weekday: number;
  /** YYYY-MM-DD. */
  date: string;
  minuteOfDay: number;
}

export interface LocalClock {
  at(utcMs: number, out: LocalTime): LocalTime;
}

const MINUTE_MS = 60_000;

export function createLocalClock(timeZone: string): LocalClock {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
  });
  let cachedMinute = Number.NaN;
  let cachedOffset = 0;
  const offsetAt = (utcMs: number): number => {
    const minute = Math.floor(utcMs / MINUTE_MS);
    if (minute === cachedMinute) return cachedOffset;
    const start = minute * MINUTE_MS;
    const f: Record<string, number> = {};
    for (const part of fmt.formatToParts(start)) if (part.type !== 'literal') f[part.type] = Number(part.value);
    const asUtc = Date.UTC(f.year ?? 1970, (f.month ?? 1) - 1, f.day ?? 1, f.hour ?? 0, f.minute ?? 0, f.second ?? 0);
    cachedMinute = minute;
    cachedOffset = asUtc - start;
    return cachedOffset;
  };
  return {
    at(utcMs, out) {
      const local = new Date(utcMs + offsetAt(utcMs));
      out.weekday = local.getUTCDay();
      out.date = local.toISOString().slice(0, 10);
      out.minuteOfDay = local.getUTCHours() * 60 + local.getUTCMinutes();
      return out;
    },
  };
}
