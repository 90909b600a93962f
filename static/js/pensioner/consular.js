// @ts-check
// Living abroad: upload a consular life certificate and see the ones already sent.
import { $, api, fail, i18n, session, setError, setStatus, show, t } from "./page.js";

/**
 * @typedef {object} ConsularDocument
 * @property {string} uploaded_at
 * @property {string} status pending, verified or rejected
 * @property {string | null} valid_until
 * @property {string | null} decision_reason
 */

/** @type {ConsularDocument[]} */
let documents = [];

/** Fetch the certificates already sent (only people living abroad can send them). */
export async function loadDocuments() {
  if (session.me && session.me.residence === "overseas") {
    documents = await api("GET", "/certifications/consular-documents").catch(() => []);
  }
}

export function renderDocuments() {
  const items = documents.map((d) => {
    const li = document.createElement("li");
    const when = i18n.dateTime(d.uploaded_at);
    const status = d.status === "verified" ? t("consular.verified", { date: i18n.date(d.valid_until) })
      : d.status === "rejected" ? t("consular.rejected", { reason: d.decision_reason || "" }) : t("consular.pending");
    li.textContent = `${when} · ${status}`;
    return li;
  });
  $("consular-docs").replaceChildren(...items);
}

$("open-consular").addEventListener("click", () => { renderDocuments(); show("screen-consular"); });
$("form-consular").addEventListener("submit", async (e) => {
  e.preventDefault();
  const file = $("scan", HTMLInputElement).files[0];
  if (!file) { setError(t("consular.pick")); $("scan").focus(); return; }
  const form = new FormData();
  form.append("scan", file, file.name);
  const consulate = $("consulate", HTMLInputElement).value.trim();
  if (consulate) form.append("consulate", consulate);
  const issuedOn = $("issued-on", HTMLInputElement).value;
  if (issuedOn) form.append("issued_on", issuedOn);
  try {
    await api("POST", "/certifications/consular-documents", { form });
    $("form-consular", HTMLFormElement).reset();
    documents = await api("GET", "/certifications/consular-documents");
    renderDocuments();
    setStatus(t("consular.done"));
  } catch (err) { fail(err); }
});
