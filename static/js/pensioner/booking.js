// @ts-check
// Booking a video call: the week's free slots in a chosen time zone, booking, moving and
// cancelling an appointment.
import { ApiError } from "../api.js";
import { zoneChoices } from "../timezones.js";
import { appointments, loadHome, loadVideo, onAppointment } from "./home.js";
import { $, api, clock, describe, fail, localDate, setError, setStatus, show, t } from "./page.js";

/**
 * The zone times are shown in, the first day shown, and the appointment being moved.
 * @type {{ tz: string | null, from: string | null, rescheduling: string | null }}
 */
const booking = { tz: null, from: null, rescheduling: null };

/** @param {import("./page.js").Appointment} a */
async function cancelAppointment(a) {
  if (!window.confirm(`${t("video.cancel")}: ${describe(a)}?`)) return;
  await api("POST", `/appointments/${a.id}/cancel`, { json: {} });
  setStatus(t("video.cancelled"));
  await loadVideo();
}
onAppointment("cancel", cancelAppointment);
onAppointment("reschedule", (a) => showBooking(a.id));

function fillZones() {
  const e = appointments.eligibility;
  const zones = zoneChoices(booking.tz, e && e.timezone, Intl.DateTimeFormat().resolvedOptions().timeZone);
  $("tz").replaceChildren(...zones.map((z) => { const o = document.createElement("option"); o.value = z; o.textContent = z; return o; }));
  $("tz", HTMLSelectElement).value = booking.tz;
}

/** @param {string | null} [rescheduleId] the appointment to move, if any */
async function showBooking(rescheduleId = null) {
  booking.rescheduling = rescheduleId;
  booking.tz = booking.tz || (appointments.eligibility && appointments.eligibility.timezone) || "Asia/Shanghai";
  booking.from = null;
  fillZones();
  await loadSlots();
  show("screen-book");
}

/**
 * @typedef {object} Slot
 * @property {string} starts_at
 * @property {string} local_date
 * @property {string} local_starts_at
 * @property {string} local_ends_at
 */

async function loadSlots() {
  const list = await api("GET", "/appointments/slots", { query: { tz: booking.tz, from: booking.from, days: 7 } });
  booking.from = list.from_date;
  $("book-intro").textContent = t("book.intro", { min: list.slot_minutes });
  /** @type {Map<string, Slot[]>} */
  const days = new Map();
  for (const slot of /** @type {Slot[]} */ (list.slots)) {
    if (!days.has(slot.local_date)) days.set(slot.local_date, []);
    days.get(slot.local_date).push(slot);
  }
  /** @type {HTMLElement[]} */
  const groups = [...days.entries()].map(([day, slots]) => {
    const fieldset = document.createElement("fieldset");
    fieldset.className = "slot-day";
    const legend = document.createElement("legend");
    legend.textContent = localDate(day);
    fieldset.append(legend);
    for (const slot of slots) {
      const label = document.createElement("label");
      label.className = "check";
      const radio = document.createElement("input");
      radio.type = "radio"; radio.name = "slot"; radio.value = JSON.stringify({ starts_at: slot.starts_at });
      const span = document.createElement("span");
      span.textContent = t("book.slot", { start: clock(slot.local_starts_at), end: clock(slot.local_ends_at) });
      label.append(radio, span);
      fieldset.append(label);
    }
    return fieldset;
  });
  if (!groups.length) { const p = document.createElement("p"); p.textContent = t("book.none"); groups.push(p); }
  $("slots").replaceChildren(...groups);
}

/** @param {number} days */
function shiftWeek(days) {
  const [y, m, d] = booking.from.split("-").map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + days));
  booking.from = next.toISOString().slice(0, 10);
  loadSlots().catch(fail);
}
$("slots-earlier").addEventListener("click", () => shiftWeek(-7));
$("slots-later").addEventListener("click", () => shiftWeek(7));
$("tz").addEventListener("change", async () => {
  booking.tz = $("tz", HTMLSelectElement).value;
  // Remember the choice on the register, so reminders use it too.
  api("PATCH", "/me", { json: { display_timezone: booking.tz } }).catch(() => {});
  await loadSlots().catch(fail);
});
$("book-call").addEventListener("click", () => showBooking().catch(fail));
$("routes-book").addEventListener("click", () => showBooking().catch(fail));

$("form-book").addEventListener("submit", async (e) => {
  e.preventDefault();
  /** @type {HTMLInputElement | null} */
  const picked = document.querySelector("input[name=slot]:checked");
  if (!picked) { setError(t("book.pick")); return; }
  const body = { ...JSON.parse(picked.value), timezone: booking.tz };
  try {
    const path = booking.rescheduling ? `/appointments/${booking.rescheduling}/reschedule` : "/appointments";
    const a = await api("POST", path, { json: body });
    await loadHome();
    setStatus(t("book.done", { when: describe(a) }));
  } catch (err) {
    fail(err);
    if (err instanceof ApiError && err.code === "SlotTaken") await loadSlots().catch(() => {});
  }
});
