import type { TimeWindow } from '../config/types.js';

/** A wall-clock reading in one time zone: `day` 0 = Monday … 6 = Sunday, `minute` after local midnight. */
export interface LocalTime {
  readonly day: number;
  readonly minute: number;
}

const WEEKDAYS: Readonly<Record<string, number>> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
const DAY_INDEX: Readonly<Record<TimeWindow['days'][number], number>> = { mon: 0, tue: 1, wed: 2, thu: 3, fri: 4, sat: 5, sun: 6 };

/**
 * A reader of local wall-clock time in `timeZone`, built once (the `Intl.DateTimeFormat` is the expensive
 * part). The zone's rules — DST included — come from ICU through `formatToParts`, never from a fixed
 * offset. The last answer is kept per UTC minute: every current zone's offset is a whole number of minutes,
 * so all instants of one UTC minute share their local minute.
 *
 * @throws {RangeError} for an unknown zone (the configuration loader rejects those).
 */
export function createLocalClock(timeZone: string): (now: number) => LocalTime {
  const format = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  let cachedMinute = Number.NaN;
  let cached: LocalTime = { day: 0, minute: 0 };
  return (now) => {
    const utcMinute = Math.floor(now / 60_000);
    if (utcMinute === cachedMinute) return cached;
    let day = 0;
    let hour = 0;
    let minute = 0;
    for (const part of format.formatToParts(now)) {
      if (part.type === 'weekday') day = WEEKDAYS[part.value] ?? 0;
      else if (part.type === 'hour') hour = Number(part.value) % 24;
      else if (part.type === 'minute') minute = Number(part.value);
    }
    cachedMinute = utcMinute;
    cached = { day, minute: hour * 60 + minute };
    return cached;
  };
}

/**
 * Compiles a time window into a predicate over epoch milliseconds: true when the local time in the window's
 * zone is inside it. `from` is inclusive, `to` exclusive. A window with `from > to` wraps past midnight and
 * belongs to the day it **starts** on: `fri 22:00-06:00` covers Friday 22:00 until Saturday 06:00. No days
 * listed = every day. A nonexistent or repeated local hour at a DST change is read as the clock on the wall
 * shows it (02:30 on the spring-forward day never occurs; 02:30 on the fall-back day occurs twice).
 */
export function compileTimeWindow(window: TimeWindow): (now: number) => boolean {
  const clock = createLocalClock(window.timeZone);
  const days = new Array<boolean>(7).fill(window.days.length === 0);
  for (const d of window.days) days[DAY_INDEX[d]] = true;
  const { fromMinute: from, toMinute: to } = window;
  if (from < to) {
    return (now) => {
      const t = clock(now);
      return days[t.day] === true && t.minute >= from && t.minute < to;
    };
  }
  return (now) => {
    const t = clock(now);
    if (t.minute >= from) return days[t.day] === true;
    return t.minute < to && days[(t.day + 6) % 7] === true;
  };
}
