// @ts-check
// The time zones both pages offer, after the person's own: where pensioners abroad and the
// agents who call them mostly live.

export const TIME_ZONES = [
  "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Tokyo", "Asia/Singapore", "Australia/Sydney",
  "Pacific/Auckland", "Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York",
  "America/Chicago", "America/Los_Angeles", "America/Vancouver", "America/Toronto",
];

/**
 * The zones of a picker: the given ones first (the current choice, the register's), then the
 * common ones, each once.
 * @param {...(string | null | undefined)} first
 * @returns {string[]}
 */
export function zoneChoices(...first) {
  return [...new Set([...first, ...TIME_ZONES].filter((z) => !!z))];
}
