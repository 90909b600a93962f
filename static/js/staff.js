// @ts-check
// The staff console: login, the review queue with photos side by side and the decision form,
// the register search and record view (certifications, audit trail), and the region dashboard.
import { ApiError, makeApi } from "./api.js";
import { captureFrame, joinCall } from "./call.js";
import { $ } from "./dom.js";
import { errorWords } from "./errors.js";
import { makeI18n } from "./i18n.js";
import { STAFF } from "./strings.js";
import { zoneChoices } from "./timezones.js";

const i18n = makeI18n(STAFF, "lifecert.staff.lang");
const { t } = i18n;
const KEY = "lifecert.staff.tokens";
const METHODS = ["data_comparison", "remote_self_service", "video_call", "community_visit", "home_visit", "consular_document"];
const COLOURS = ["#0a47a1", "#0b6b2e", "#6a1b9a", "#7a4a00", "#a4161a", "#37474f"];
const STATUSES = ["certified", "due_soon", "overdue", "never_certified", "suspended", "terminated"];

/** @type {{ username: string, full_name?: string, roles: string[] } | null} */
let me = null;
/** @type {string[]} */
let blobUrls = [];
/** @type {{ leave: () => void } | null} */
let call = null;       // the open video call, if any
/** @type {MediaStream | null} */
let callStream = null;
// Only the short-lived access token is kept here. The refresh token lives in an HttpOnly,
// SameSite=Strict cookie this script cannot read; the auth routes want this header with it.
const FROM_PAGE = { "X-Requested-With": "lifecert" };
const tokens = () => JSON.parse(sessionStorage.getItem(KEY) || "null");
/** @param {{ access_token: string, expires_in: number }} pair */
const keep = (pair) => sessionStorage.setItem(KEY, JSON.stringify({ access_token: pair.access_token, expires_in: pair.expires_in }));
const api = makeApi({ token: () => tokens()?.access_token, onUnauthorized: refresh });

async function refresh() {
  if (!tokens()) return false;
  try {
    const response = await fetch("/api/v1/auth/refresh", { method: "POST", headers: FROM_PAGE });
    if (!response.ok) throw new Error(String(response.status));
    keep(await response.json());
    return true;
  } catch (e) {
    sessionStorage.removeItem(KEY);
    me = null;
    route();
    return false;
  }
}

// ---- helpers ------------------------------------------------------------------------------
/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs] `text`, `class` and `style` are set as such
 * @param {...(Node | string | null | undefined)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    // Styles through the CSSOM: the Content-Security-Policy refuses style attributes.
    const value = String(v);
    if (k === "text") node.textContent = value; else if (k === "class") node.className = value; else if (k === "style") node.style.cssText = value; else node.setAttribute(k, value);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
/**
 * @param {string[]} headers
 * @param {unknown[][]} rows cells: nodes, or anything shown as text
 */
function table(headers, rows) {
  return el("table", {},
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c instanceof Node ? c : String(c ?? "")))))));
}
/** @param {string} text */
function setStatus(text) { $("status").textContent = text; }
/** @param {string} text */
function setError(text) { $("error").textContent = text; }
/** @param {Error} err */
function fail(err) {
  const words = err instanceof ApiError ? errorWords(err.code, i18n.lang) : null;
  if (err instanceof ApiError && err.code === "NetworkError") setError(t("err.network"));
  // Staff see what the service says too: which field, which slot, which record.
  else if (words) setError(`${words} ${err.message}`);
  else if (err instanceof ApiError && err.status === 403) setError(`${t("err.denied")} ${err.message}`);
  else setError(t("err.generic", { detail: err.message }));
}
/**
 * @param {HTMLFormElement} form
 * @param {boolean} disabled
 */
function setDisabled(form, disabled) {
  /** @type {NodeListOf<HTMLInputElement | HTMLTextAreaElement | HTMLButtonElement>} */
  const controls = form.querySelectorAll("input, textarea, button");
  for (const control of controls) control.disabled = disabled;
}
/** @param {string} id */
function showView(id) {
  for (const v of document.querySelectorAll("[data-view]")) if (v instanceof HTMLElement) v.hidden = v.id !== id;
  const h = $(id).querySelector("h1");
  if (h) h.focus();
}
/**
 * Why an attempt waits for a reviewer, in words where the console has them.
 * @param {string[]} reasons the service's reason codes
 */
function reasonsText(reasons) {
  return reasons.map((r) => (i18n.has(`reason.${r}`) ? t(`reason.${r}`) : r)).join(i18n.lang === "zh" ? "、" : ", ");
}
/** @param {...string} roles */
function can(...roles) { return !!me && me.roles.some((r) => roles.includes(r)); }
function releaseImages() { for (const u of blobUrls) URL.revokeObjectURL(u); blobUrls = []; }

/**
 * Media needs the bearer token, so it is fetched and shown from a blob URL.
 * @param {string} url
 */
async function blobUrl(url) {
  const response = await api("GET", url.replace(/^.*\/api\/v1/, ""), { raw: true });
  const src = URL.createObjectURL(await response.blob());
  blobUrls.push(src);
  return src;
}

/**
 * @param {string} url
 * @param {string} alt
 */
async function image(url, alt) {
  try {
    return el("img", { src: await blobUrl(url), alt });
  } catch (e) {
    return el("p", { class: "hint", text: t("review.no_media") });
  }
}

// ---- login and routing ----------------------------------------------------------------------
$("form-login").addEventListener("submit", async (e) => {
  e.preventDefault();
  setError("");
  const form = new URLSearchParams({ username: $("username", HTMLInputElement).value.trim(), password: $("password", HTMLInputElement).value });
  try {
    const response = await fetch("/api/v1/auth/token", { method: "POST", body: form, headers: FROM_PAGE });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      const key = { LoginBackoff: "login.backoff", StaffAccountLocked: "login.locked", RateLimited: "login.rate" }[body.error] || "login.failed";
      setError(t(key, { seconds: body.retry_after || 1 }));
      $("password").focus();
      return;
    }
    keep(await response.json());
    $("password", HTMLInputElement).value = "";
    await loadMe();
    if (!location.hash || location.hash === "#/login") location.hash = defaultRoute(); else route();
  } catch (err) { setError(t("err.network")); }
});

$("logout").addEventListener("click", async () => {
  sessionStorage.removeItem(KEY);
  me = null;
  // The cookie goes with it; the service ends the login and clears the cookie.
  fetch("/api/v1/auth/logout", { method: "POST", headers: FROM_PAGE }).catch(() => {});
  location.hash = "#/login";
  route();
});

async function loadMe() {
  me = await api("GET", "/staff/me");
  renderChrome();
}

function renderChrome() {
  $("nav").hidden = !me;
  $("logout").hidden = !me;
  $("whoami").textContent = me ? t("whoami", { user: me.full_name || me.username, roles: me.roles.map((r) => t(`role.${r}`)).join("、") }) : "";
  for (const a of document.querySelectorAll("#nav a")) {
    if (!(a instanceof HTMLAnchorElement)) continue;
    a.hidden = !can(...a.dataset.role.split(" "));
    a.toggleAttribute("aria-current", location.hash.startsWith(a.getAttribute("href")));
    if (a.hasAttribute("aria-current")) a.setAttribute("aria-current", "page");
  }
}

function defaultRoute() {
  if (can("admin", "reviewer")) return "#/reviews";
  if (can("admin", "auditor")) return "#/dashboard";
  if (can("video_agent")) return "#/calls";
  return "#/none";
}

async function route() {
  setError(""); setStatus(""); releaseImages(); hangUp();
  if (!tokens()) { renderChrome(); showView("view-login"); return; }
  try {
    if (!me) await loadMe();
    renderChrome();
    const [, page, id] = (location.hash || defaultRoute()).split("/");
    if (page === "reviews" && id) await showReview(id);
    else if (page === "reviews") await showReviews();
    else if (page === "pensioners" && id) await showPensioner(id);
    else if (page === "pensioners") showView("view-pensioners");
    else if (page === "dashboard") await showDashboard();
    else if (page === "calls" && id) await showCall(id);
    else if (page === "calls") await showCalls();
    else if (page === "availability") await showAvailability();
    else if (page === "photos") await showPhotos();
    else if (page === "duplicates") await showDuplicates();
    else if (page === "consular" && id) await showDocument(id);
    else if (page === "consular") await showDocuments();
    else if (page === "none") showView("view-none");
    else location.hash = defaultRoute();
  } catch (err) { fail(err); }
}
window.addEventListener("hashchange", route);

// ---- review queue ------------------------------------------------------------------------------
async function showReviews() {
  const cases = await api("GET", "/reviews", { query: { limit: 100 } });
  const body = $("reviews-body");
  if (!cases.length) body.replaceChildren(el("p", { text: t("reviews.empty") }));
  else {
    body.replaceChildren(el("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": t("reviews.title") }, table(
      [t("reviews.name"), t("reviews.region"), t("reviews.reasons"), t("reviews.status"), t("reviews.waiting"), ""],
      cases.map((c) => [
        c.pensioner_name, c.region_code,
        reasonsText(c.reasons) + (c.low_score ? ` (${t("reviews.low")})` : ""),
        t(`review_status.${c.status}`), t("reviews.hours", { h: Math.round(c.age_hours) }),
        el("a", { class: "button", href: `#/reviews/${c.id}`, text: t("reviews.open"), "aria-label": `${t("reviews.open")} ${c.pensioner_name}` }),
      ]),
    )));
  }
  showView("view-reviews");
}

/**
 * @param {string} name
 * @param {Record<string, unknown> | undefined} summary
 */
function flatScores(name, summary) {
  if (!summary) return [];
  const rows = [];
  for (const [k, v] of Object.entries(summary)) {
    if (v === null || typeof v === "object") continue;
    rows.push([name, k, typeof v === "number" ? Number(v.toFixed(4)) : String(v)]);
  }
  return rows;
}

/** @param {string} id */
async function showReview(id) {
  const c = await api("GET", `/reviews/${id}`);
  $("review-title").textContent = t("review.title", { name: c.pensioner_name });
  $("review-meta").textContent = [c.region_code, reasonsText(c.reasons), c.operated_by ? t("review.operated", { who: c.operated_by }) : ""].filter(Boolean).join(" · ");
  const d = c.decision || {};
  const [enrolled, selfie, frames] = await Promise.all([
    Promise.all(c.enrolled_photos.map((u, i) => image(u, t("alt.enrolled", { n: i + 1, name: c.pensioner_name })))),
    c.selfie ? image(c.selfie, t("alt.selfie", { name: c.pensioner_name })) : null,
    Promise.all(c.key_frames.map((u, i) => image(u, t("alt.frame", { n: i + 1 })))),
  ]);
  $("review-enrolled").replaceChildren(...(enrolled.length ? enrolled : [el("p", { class: "hint", text: t("review.no_media") })]));
  $("review-selfie").replaceChildren(selfie || el("p", { class: "hint", text: t("review.no_media") }));
  $("review-frames").replaceChildren(...(frames.length ? frames : [el("p", { class: "hint", text: t("review.no_media") })]));
  const scoreRows = [...flatScores(t("review.fused"), d.face), ...flatScores("selfie", d.face_selfie), ...flatScores("video", d.face_video)];
  $("review-scores").replaceChildren(scoreRows.length ? table(["", t("review.check"), t("review.value")], scoreRows) : el("p", { text: "—" }));
  const checks = Object.entries((d.video && d.video.checks) || {});
  $("review-liveness").replaceChildren(checks.length
    ? table([t("review.check"), t("review.value"), t("review.threshold"), t("review.passed")],
      checks.map(([k, v]) => [k, v.value, v.threshold, v.passed ? t("review.yes") : t("review.no")]))
    : el("p", { text: (d.video && d.video.error) ? `${d.video.error}: ${d.video.detail}` : "—" }));
  const form = $("form-decision", HTMLFormElement);
  form.dataset.caseId = c.id;
  form.reset();
  const open = c.status === "open" || c.status === "awaiting_second_review";
  setDisabled(form, !open);
  if (c.status === "awaiting_second_review") setStatus(t("review.second"));
  showView("view-review");
}

$("form-decision").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = $("form-decision", HTMLFormElement);
  /** @type {HTMLInputElement | null} */
  const verdict = form.querySelector("input[name=verdict]:checked");
  const reason = $("decision-reason", HTMLTextAreaElement).value.trim();
  if (!verdict) { setError(t("review.choose")); /** @type {HTMLInputElement} */ (form.querySelector("input[name=verdict]")).focus(); return; }
  if (verdict.value !== "approve" && !reason) { setError(t("review.need_reason")); $("decision-reason").focus(); return; }
  setError("");
  $("decision-submit", HTMLButtonElement).disabled = true;
  try {
    const otherPerson = verdict.value === "reject" && $("decision-other-person", HTMLInputElement).checked;
    const result = await api("POST", `/reviews/${form.dataset.caseId}/decision`, { json: { verdict: verdict.value, reason: reason || null, same_person: otherPerson ? false : null } });
    setStatus(t("review.done", { status: t(`review_status.${result.status}`) }) + (result.status === "awaiting_second_review" ? ` ${t("review.second")}` : ""));
    setDisabled(form, true);
  } catch (err) { fail(err); $("decision-submit", HTMLButtonElement).disabled = false; }
});

// ---- register search and record -----------------------------------------------------------------
$("form-search").addEventListener("submit", async (e) => {
  e.preventDefault();
  setError("");
  try {
    const page = await api("GET", "/pensioners", { query: { q: $("q", HTMLInputElement).value.trim(), limit: 50 } });
    const out = $("search-results");
    if (!page.items.length) { out.replaceChildren(el("p", { text: t("pensioners.none") })); return; }
    out.replaceChildren(el("p", { text: t("pensioners.count", { n: page.total }) }), el("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": t("pensioners.title") }, table(
      [t("reviews.name"), t("pensioner.id"), t("pensioner.region"), t("pensioner.benefit"), t("pensioner.until"), ""],
      page.items.map((p) => [p.name, p.national_id, p.region_code, t(`benefit.${p.benefit_status}`), p.certified_until ? i18n.date(p.certified_until) : "—",
        el("a", { class: "button", href: `#/pensioners/${p.id}`, text: t("pensioners.open"), "aria-label": `${t("pensioners.open")} ${p.name}` })]),
    )));
  } catch (err) { fail(err); }
});

async function showPensioner(id) {
  const p = await api("GET", `/pensioners/${id}`);
  $("pensioner-name").textContent = p.name;
  const facts = [
    ["pensioner.id", p.national_id], ["pensioner.birth", i18n.date(p.date_of_birth)], ["pensioner.region", p.region_code],
    ["pensioner.phone", p.phone], ["pensioner.residence", t(`residence.${p.residence}`) + (p.overseas_country ? ` (${p.overseas_country})` : "")],
    ["pensioner.benefit", t(`benefit.${p.benefit_status}`)], ["pensioner.until", p.certified_until ? i18n.date(p.certified_until) : "—"],
    ["pensioner.mobility", p.mobility_limited ? t("yes") : t("no")],
  ];
  $("pensioner-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", { text: v })]));
  const history = await api("GET", `/pensioners/${id}/certifications`);
  $("pensioner-history").replaceChildren(history.length
    ? table([t("col.when"), t("col.method"), t("col.valid_until"), t("col.by")],
      history.map((c) => [i18n.dateTime(c.certified_at), t(`method.${c.method}`), i18n.date(c.valid_until), `${c.decided_by_type}${c.operated_by ? ` · ${c.operated_by}` : ""}`]))
    : el("p", { text: t("pensioner.no_history") }));
  if (can("admin", "auditor")) {
    const events = await api("GET", "/audit/events", { query: { entity_id: id, limit: 100 } });
    $("pensioner-audit").replaceChildren(events.length
      ? table([t("col.when"), t("col.action"), t("col.actor"), t("col.details")],
        events.map((ev) => [i18n.dateTime(ev.occurred_at), ev.action, `${ev.actor_type}:${ev.actor_id}`, el("code", { text: ev.after ? JSON.stringify(ev.after) : "" })]))
      : el("p", { text: t("pensioner.no_audit") }));
  } else {
    $("pensioner-audit").replaceChildren(el("p", { text: t("pensioner.audit_denied") }));
  }
  showView("view-pensioner");
}

// ---- dashboard -------------------------------------------------------------------------------------
$("form-dashboard").addEventListener("submit", (e) => { e.preventDefault(); showDashboard().catch(fail); });

function cards(entries) {
  return entries.map(([label, n]) => el("div", { class: "card" }, el("span", { class: "n", text: String(n) }), el("span", { text: label })));
}

function chart(months) {
  const W = 720, H = 300, left = 44, bottom = 40, top = 10;
  const totals = months.map((m) => METHODS.reduce((s, k) => s + (m.by_method[k] || 0), 0));
  const max = Math.max(1, ...totals);
  const step = (W - left - 10) / months.length;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", "chart-title");
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  add("line", { x1: left, y1: H - bottom, x2: W - 5, y2: H - bottom, stroke: "#111" });
  add("text", { x: left - 6, y: top + 10, "text-anchor": "end", "font-size": 14 }, String(max));
  add("text", { x: left - 6, y: H - bottom, "text-anchor": "end", "font-size": 14 }, "0");
  months.forEach((m, i) => {
    let y = H - bottom;
    METHODS.forEach((k, j) => {
      const n = m.by_method[k] || 0;
      if (!n) return;
      const h = (n / max) * (H - bottom - top);
      y -= h;
      add("rect", { x: left + i * step + 4, y, width: step - 8, height: h, fill: COLOURS[j] });
    });
    add("text", { x: left + i * step + step / 2, y: H - bottom + 18, "text-anchor": "middle", "font-size": 13 }, m.month.slice(2));
  });
  const legend = el("ul", { class: "legend" }, ...METHODS.map((k, j) => el("li", {}, el("span", { class: "swatch", style: `background:${COLOURS[j]}`, "aria-hidden": "true" }), t(`method.${k}`))));
  return el("div", { class: "chart" }, svg, legend);
}

async function showDashboard() {
  const region = $("dash-region", HTMLInputElement).value.trim();
  const d = await api("GET", "/reports/dashboard", { query: { region_code: region } });
  $("dash-as-of").textContent = t("dashboard.as_of", { date: i18n.date(d.as_of), region: d.region_code || t("dashboard.all") });
  $("dash-status").replaceChildren(...cards(STATUSES.map((s) => [t(`status.${s}`), d.by_status[s] || 0])));
  $("dash-methods").replaceChildren(...cards(METHODS.map((m) => [t(`method.${m}`), d.by_method[m] || 0])));
  $("dash-chart").replaceChildren(chart(d.months));
  $("dash-table").replaceChildren(table([t("dashboard.month"), ...METHODS.map((m) => t(`method.${m}`))],
    d.months.map((m) => [m.month, ...METHODS.map((k) => m.by_method[k] || 0)])));
  const pct = (x) => (x === null || x === undefined ? "—" : `${Math.round(x * 1000) / 10}%`);
  const remote = d.remote_attempts || [];
  $("dash-remote").replaceChildren(remote.length
    ? table([t("dashboard.month"), t("reviews.region"), t("dashboard.age"), t("dashboard.decided"), t("dashboard.auto"), t("dashboard.reviewed"), t("dashboard.refused"), t("dashboard.retry")],
      remote.map((r) => [r.month, r.region_code, r.age_band, r.decided, `${r.auto_certified} (${pct(r.auto_certified_share)})`,
        `${r.reviewed} (${pct(r.reviewed_share)})`, `${r.refused} (${pct(r.refused_share)})`, r.retry]))
    : el("p", { class: "hint", text: t("dashboard.none") }));
  if ($("view-dashboard").hidden) showView("view-dashboard");
}

// ---- video calls (agents) ---------------------------------------------------------------------
function hangUp() {
  if (call) call.leave();
  call = null;
  if (callStream) for (const track of callStream.getTracks()) track.stop();
  callStream = null;
}

async function showCalls() {
  const calls = await api("GET", "/video-calls");
  const body = $("calls-body");
  if (!calls.length) body.replaceChildren(el("p", { text: t("calls.empty") }));
  else {
    body.replaceChildren(el("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": t("calls.title") }, table(
      [t("calls.when"), t("reviews.name"), t("reviews.region"), t("calls.tz"), t("reviews.status"), ""],
      calls.map((c) => [i18n.dateTime(c.starts_at), c.pensioner_name, c.region_code, c.pensioner_timezone, t(`call_status.${c.status}`),
        el("a", { class: "button", href: `#/calls/${c.id}`, text: t("calls.open"), "aria-label": `${t("calls.open")} ${c.pensioner_name}` })]),
    )));
  }
  showView("view-calls");
}

function renderFrames(c) {
  $("call-frames").replaceChildren(c.frames.length
    ? table([t("col.when"), t("call.decision"), t("call.score"), t("call.distance"), t("call.reasons")],
      c.frames.map((f) => [i18n.dateTime(f.created_at), f.decision, f.score === null ? "—" : f.score.toFixed(2), f.distance.toFixed(3), f.reasons.join(", ")]))
    : el("p", { text: "—" }));
}

async function showCall(id) {
  const c = await api("GET", `/video-calls/${id}`);
  const p = c.pensioner;
  $("call-title").textContent = t("call.title", { name: p.name });
  const facts = [
    ["pensioner.id", p.national_id], ["pensioner.birth", i18n.date(p.date_of_birth)], ["pensioner.region", p.region_code],
    ["pensioner.phone", p.phone], ["pensioner.residence", t(`residence.${p.residence}`) + (p.overseas_country ? ` (${p.overseas_country})` : "")],
    ["calls.when", `${i18n.dateTime(c.starts_at)} (${c.pensioner_timezone})`], ["pensioner.until", p.certified_until ? i18n.date(p.certified_until) : "—"],
  ];
  $("call-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", { text: v })]));
  const photos = await Promise.all(c.enrolled_photos.map((ph, i) => image(ph.url, t("alt.enrolled", { n: i + 1, name: p.name }))));
  $("call-photos").replaceChildren(...(photos.length ? photos : [el("p", { class: "hint", text: t("review.no_media") })]));
  renderFrames(c);
  $("call-code").textContent = "";
  $("call-state").textContent = "";
  $("call-capture", HTMLButtonElement).disabled = true;
  $("call-connect", HTMLButtonElement).disabled = false;
  const form = $("form-outcome", HTMLFormElement);
  form.reset();
  form.dataset.callId = c.id;
  const open = c.status === "booked" || c.status === "lapsed";
  setDisabled(form, !open);
  $("call-connect", HTMLButtonElement).disabled = !open;
  $("call-read-code", HTMLButtonElement).disabled = !open;
  if (!open) setStatus(t("call.recorded", { status: t(`call_status.${c.status}`) }));
  showView("view-call");
}

$("call-connect").addEventListener("click", async () => {
  const id = $("form-outcome").dataset.callId;
  $("call-connect", HTMLButtonElement).disabled = true;
  try {
    const room = await api("POST", `/video-calls/${id}/room-token`);
    callStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true })
      .catch(() => navigator.mediaDevices.getUserMedia({ video: true, audio: false }));
    $("call-local", HTMLVideoElement).srcObject = callStream;
    call = joinCall({
      room, role: "agent", stream: callStream, remoteVideo: $("call-remote", HTMLVideoElement),
      onState: (state, reason) => {
        $("call-state").textContent = t(`call.state.${state}`, { reason: reason || "" });
        $("call-capture", HTMLButtonElement).disabled = state !== "connected";
        if (state === "closed") { $("call-connect", HTMLButtonElement).disabled = false; call = null; }
      },
      onMessage: (m) => { if (m.type === "error") setError(m.detail); },
    });
  } catch (err) { fail(err); $("call-connect", HTMLButtonElement).disabled = false; }
});

$("call-capture").addEventListener("click", async () => {
  const id = $("form-outcome").dataset.callId;
  const video = $("call-remote", HTMLVideoElement);
  if (!video.videoWidth) return;
  $("call-capture", HTMLButtonElement).disabled = true;
  try {
    const form = new FormData();
    form.append("frame", await captureFrame(video), "frame.jpg");
    const check = await api("POST", `/video-calls/${id}/frames`, { form });
    setStatus(`${t("call.decision")}: ${check.decision}` + (check.score === null ? "" : ` (${t("call.score")} ${check.score.toFixed(2)})`));
    renderFrames(await api("GET", `/video-calls/${id}`));
  } catch (err) { fail(err); } finally { $("call-capture", HTMLButtonElement).disabled = !call; }
});

$("call-read-code").addEventListener("click", async () => {
  const id = $("form-outcome").dataset.callId;
  try {
    const code = await api("POST", `/video-calls/${id}/read-code`);
    $("call-code").textContent = t("call.code_shown", { code: code.code, delivered: t(code.delivered ? "call.delivered" : "call.not_delivered") });
  } catch (err) { fail(err); }
});

$("form-outcome").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = $("form-outcome", HTMLFormElement);
  /** @type {HTMLInputElement | null} */
  const picked = form.querySelector("input[name=outcome]:checked");
  if (!picked) { setError(t("review.choose")); return; }
  const body = { outcome: picked.value };
  const reason = $("outcome-reason", HTMLTextAreaElement).value.trim();
  const override = $("outcome-override", HTMLTextAreaElement).value.trim();
  const notes = $("outcome-notes", HTMLTextAreaElement).value.trim();
  if (picked.value === "not_certified" && !reason) { setError(t("review.need_reason")); $("outcome-reason").focus(); return; }
  if (reason) body.reason = reason;
  if (override && picked.value === "certified") body.override_reason = override;
  if (notes) body.notes = notes;
  setError("");
  try {
    const c = await api("POST", `/video-calls/${form.dataset.callId}/outcome`, { json: body });
    setStatus(t("call.recorded", { status: t(`call_status.${c.status}`) }));
    setDisabled(form, true);
    hangUp();
  } catch (err) { fail(err); }
});

// ---- an agent's working hours ---------------------------------------------------------------------
let rowSeq = 0;

function field(label, control, wide = false) {
  const id = `av-f${++rowSeq}`;
  control.id = id;
  return el("div", { class: wide ? "wide" : null }, el("label", { for: id, text: label }), control);
}

function select(options, value) {
  const node = el("select");
  for (const [v, text] of options) node.append(el("option", { value: v, text }));
  node.value = value;
  return node;
}

function weeklyRow(h = { weekday: 0, start: "09:00", end: "12:00" }) {
  const row = el("div", { class: "av-row", "data-kind": "weekly" },
    field(t("av.weekday"), select([0, 1, 2, 3, 4, 5, 6].map((d) => [String(d), t(`weekday.${d}`)]), String(h.weekday))),
    field(t("av.start"), el("input", { type: "time", value: h.start.slice(0, 5), required: true })),
    field(t("av.end"), el("input", { type: "time", value: h.end.slice(0, 5), required: true })));
  const remove = el("button", { type: "button", text: t("av.remove") });
  remove.addEventListener("click", () => row.remove());
  row.append(remove);
  return row;
}

function exceptionRow(x = { kind: "unavailable", starts_on: "", ends_on: "", start: null, end: null, reason: "" }) {
  const row = el("div", { class: "av-row", "data-kind": "exception" },
    field(t("av.kind"), select(["unavailable", "extra"].map((k) => [k, t(`av.kind.${k}`)]), x.kind)),
    field(t("av.from"), el("input", { type: "date", value: x.starts_on, required: true })),
    field(t("av.to"), el("input", { type: "date", value: x.ends_on, required: true })),
    field(t("av.start"), el("input", { type: "time", value: x.start ? x.start.slice(0, 5) : "" })),
    field(t("av.end"), el("input", { type: "time", value: x.end ? x.end.slice(0, 5) : "" })),
    field(t("av.reason"), el("input", { maxlength: 200, value: x.reason || "" }), true));
  const remove = el("button", { type: "button", text: t("av.remove") });
  remove.addEventListener("click", () => row.remove());
  row.append(remove);
  return row;
}

async function showAvailability() {
  const a = await api("GET", "/video-agents/me/availability");
  const zones = zoneChoices(a.timezone);
  $("av-tz").replaceChildren(...zones.map((z) => el("option", { value: z, text: z })));
  $("av-tz", HTMLSelectElement).value = a.timezone;
  $("av-weekly").replaceChildren(...a.weekly.map(weeklyRow));
  $("av-exceptions").replaceChildren(...a.exceptions.map(exceptionRow));
  showView("view-availability");
}
$("av-add").addEventListener("click", () => { const row = weeklyRow(); $("av-weekly").append(row); row.querySelector("select").focus(); });
$("av-add-exception").addEventListener("click", () => { const row = exceptionRow(); $("av-exceptions").append(row); row.querySelector("select").focus(); });

$("form-availability").addEventListener("submit", async (e) => {
  e.preventDefault();
  const values = (row) => [...row.querySelectorAll("select, input")].map((c) => c.value);
  const weekly = [...$("av-weekly").children].map((row) => {
    const [weekday, start, end] = values(row);
    return { weekday: Number(weekday), start, end };
  });
  const exceptions = [...$("av-exceptions").children].map((row) => {
    const [kind, startsOn, endsOn, start, end, reason] = values(row);
    return { kind, starts_on: startsOn, ends_on: endsOn, start: start || null, end: end || null, reason: reason || null };
  });
  setError("");
  try {
    await api("PUT", "/video-agents/me/availability", { json: { timezone: $("av-tz", HTMLSelectElement).value, weekly, exceptions } });
    setStatus(t("av.saved"));
  } catch (err) { fail(err); }
});

// ---- consular documents (admins, reviewers) -------------------------------------------------------
async function showPhotos() {
  const faces = await api("GET", "/faces/pending");
  const body = $("photos-body");
  if (!faces.length) { body.replaceChildren(el("p", { text: t("photos.empty") })); showView("view-photos"); return; }
  const rows = await Promise.all(faces.map(async (f, i) => {
    const check = f.enrolment_check || {};
    const why = (check.waits_for || []).map((w) => t(`waits.${w}`)).join("、");
    const flagged = ((check.others || {}).flagged || []).map((o) => el("a", { href: `#/pensioners/${o.pensioner_id}`, text: `${o.pensioner_id.slice(0, 8)} (${o.score})` }));
    const reason = el("input", { type: "text", maxlength: 500, placeholder: t("photos.reason"), "aria-label": `${t("photos.reason")} ${i + 1}` });
    const decide = (approve) => async () => {
      try {
        await api("POST", `/pensioners/${f.pensioner_id}/faces/${f.id}/approval`, { json: { approve, reason: reason.value.trim() || null } });
        setStatus(t("photos.done"));
        await showPhotos();
      } catch (err) { fail(err); }
    };
    const approve = el("button", { type: "button", class: "primary", text: t("photos.approve") });
    approve.addEventListener("click", decide(true));
    const reject = el("button", { type: "button", text: t("photos.reject") });
    reject.addEventListener("click", decide(false));
    return [
      await image(`/pensioners/${f.pensioner_id}/faces/${f.id}/photo`, t("photos.alt", { n: i + 1 })),
      el("a", { href: `#/pensioners/${f.pensioner_id}`, text: f.pensioner_id.slice(0, 8) }),
      why, flagged.length ? el("span", {}, ...flagged) : "—", f.added_by_id.slice(0, 8),
      el("div", { class: "actions" }, approve, reason, reject),
    ];
  }));
  body.replaceChildren(el("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": t("photos.title") },
    table([t("photos.photo"), t("photos.person"), t("photos.why"), t("photos.resembles"), t("photos.by"), ""], rows)));
  showView("view-photos");
}

// ---- duplicate cases: one face under two identities (admins, reviewers) --------------------------
async function showDuplicates() {
  const cases = await api("GET", "/faces/duplicates", { query: { limit: 50 } });
  const body = $("duplicates-body");
  const open = cases.filter((c) => c.status !== "closed");
  if (!open.length) { body.replaceChildren(el("p", { text: t("dup.empty") })); showView("view-duplicates"); return; }
  const cards = await Promise.all(open.map(async (c, i) => {
    const side = async (s, label) => el("figure", { class: "dup-side" },
      await image(`/pensioners/${s.pensioner_id}/faces/${s.face_id}/photo`, t("dup.alt", { who: label, name: s.name })),
      el("figcaption", {},
        el("strong", { text: label }), el("br"),
        el("a", { href: `#/pensioners/${s.pensioner_id}`, text: `${s.name} ${s.national_id}` }), el("br"),
        el("span", { text: `${s.region_code} · ${t(`benefit.${s.benefit_status}`)}` })));
    const note = el("input", { type: "text", maxlength: 1000, placeholder: t("dup.note"), "aria-label": `${t("dup.note")} ${i + 1}` });
    const decide = (outcome) => async () => {
      try {
        await api("POST", `/faces/duplicates/${c.id}/decision`, { json: { outcome, note: note.value.trim() || null } });
        setStatus(t("dup.done"));
        await showDuplicates();
      } catch (err) { fail(err); }
    };
    const buttons = ["same_person", "relatives", "data_error"].map((o) => {
      const b = el("button", { type: "button", class: o === "same_person" ? "primary" : "", text: t(`dup.${o}`) });
      b.addEventListener("click", decide(o));
      return b;
    });
    const waiting = c.status === "awaiting_second"
      ? el("p", { class: "hint", text: t("dup.awaiting", { who: (c.first_reviewer_id || "").slice(0, 8) }) }) : "";
    return el("article", { class: "dup-case" },
      el("div", { class: "dup-pair" }, await side(c.earlier, t("dup.earlier")), await side(c.later, t("dup.later"))),
      el("p", { text: t("dup.facts", { distance: c.distance.toFixed(3), threshold: c.threshold, found: t(`dup.found.${c.found_by}`) }) }),
      waiting, el("div", { class: "actions" }, ...buttons, note));
  }));
  body.replaceChildren(...cards);
  showView("view-duplicates");
}

async function showDocuments() {
  const docs = await api("GET", "/consular-documents");
  const body = $("consular-body");
  if (!docs.length) body.replaceChildren(el("p", { text: t("consular.empty") }));
  else {
    body.replaceChildren(el("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": t("consular.title") }, table(
      [t("reviews.name"), t("reviews.region"), t("consular.country"), t("consular.consulate"), t("consular.uploaded"), ""],
      docs.map((d) => [d.pensioner_name, d.region_code, d.overseas_country || "—", d.consulate || "—", i18n.dateTime(d.uploaded_at),
        el("a", { class: "button", href: `#/consular/${d.id}`, text: t("consular.open"), "aria-label": `${t("consular.open")} ${d.pensioner_name}` })]),
    )));
  }
  showView("view-consular");
}

async function showDocument(id) {
  const d = await api("GET", `/consular-documents/${id}`);
  $("doc-title").textContent = t("consular.doc", { name: d.pensioner_name });
  const facts = [["reviews.region", d.region_code], ["consular.country", d.overseas_country || "—"], ["consular.consulate", d.consulate || "—"],
    ["consular.issued", d.issued_on ? i18n.date(d.issued_on) : "—"], ["consular.uploaded", i18n.dateTime(d.uploaded_at)], ["reviews.status", t(`doc_status.${d.status}`)]];
  $("doc-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", { text: v })]));
  $("doc-scan").replaceChildren(d.file_format === "pdf"
    ? el("a", { class: "button", href: await blobUrl(d.scan_url), target: "_blank", rel: "noopener", text: t("consular.file") })
    : await image(d.scan_url, t("consular.scan_alt", { name: d.pensioner_name })));
  const form = $("form-document", HTMLFormElement);
  form.reset();
  form.dataset.docId = d.id;
  setDisabled(form, d.status !== "pending");
  showView("view-document");
}

$("form-document").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = $("form-document", HTMLFormElement);
  /** @type {HTMLInputElement | null} */
  const picked = form.querySelector("input[name=doc-verdict]:checked");
  const reason = $("doc-reason", HTMLTextAreaElement).value.trim();
  if (!picked) { setError(t("review.choose")); return; }
  if (picked.value === "reject" && !reason) { setError(t("review.need_reason")); $("doc-reason").focus(); return; }
  try {
    const d = await api("POST", `/consular-documents/${form.dataset.docId}/decision`, { json: { verdict: picked.value, reason: reason || null } });
    setStatus(t("consular.done", { status: t(`doc_status.${d.status}`) }));
    setDisabled(form, true);
  } catch (err) { fail(err); }
});

// ---- language and start-up ---------------------------------------------------------------------
function renderLangButton() {
  $("lang").textContent = t("lang_switch");
  $("lang").setAttribute("lang", i18n.lang === "zh" ? "en" : "zh-CN");
}
$("lang").addEventListener("click", () => i18n.setLang(i18n.lang === "zh" ? "en" : "zh"));
i18n.onChange(() => {
  renderLangButton();
  renderChrome();
  // Never re-route (and hang up) in the middle of a call.
  if (tokens() && !call) route();
});
i18n.apply();
renderLangButton();
route();
