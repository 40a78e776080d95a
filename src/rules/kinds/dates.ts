/**
 * Calendar arithmetic on dates and timestamps as PostgreSQL writes them (DateStyle ISO, as pg_dump
 * sets it): `1987-06-14`, `2024-02-29 13:45:12.5+05:30`, `0044-03-15 BC`, `infinity`. The time of day
 * and the zone are kept as written; only the calendar date moves. Dates are counted in days from
 * 1970-01-01 with Howard Hinnant's civil-from-days algorithm (proleptic Gregorian, as PostgreSQL).
 */
const DATE = /^(\d{4,})-(\d\d)-(\d\d)(.*?)( BC)?$/;

function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [era * 400 + yoe + (m <= 2 ? 1 : 0), m, d];
}

/** `s` moved by `days` calendar days; text that is not a date (infinity) is returned as it is. */
export function shiftDays(s: string, days: number): string {
  const m = DATE.exec(s);
  if (!m) return s;
  // BC years are 1-based: 1 BC is year 0 of the proleptic calendar
  const year = m[5] ? 1 - Number(m[1]) : Number(m[1]);
  const [y, mo, d] = civilFromDays(daysFromCivil(year, Number(m[2]), Number(m[3])) + days);
  const bc = y <= 0;
  const shown = bc ? 1 - y : y;
  return `${String(shown).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}${m[4]}${bc ? ' BC' : ''}`;
}

/** A whole number of days in ±1..max (never 0) from a uniform draw `u` in [-1, 1). */
export function offsetDays(u: number, max: number): number {
  const n = 1 + Math.floor(Math.abs(u) * max);
  return u < 0 ? -n : n;
}
