// @ts-check
/// <reference lib="webworker" />
// The pensioner page's service worker: it keeps the app shell (the page, its styles, scripts
// and icons) so the page opens without a network and can say so. Network first, so a new
// release is used as soon as it is reachable; the API is never cached (its answers are
// personal, and the biometric uploads must reach the service).
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const CACHE = "lifecert-shell-v1";
const SHELL = [
  "/",
  "/css/base.css",
  "/css/pensioner.css",
  "/js/pensioner.js",
  "/js/api.js",
  "/js/call.js",
  "/js/dom.js",
  "/js/errors.js",
  "/js/i18n.js",
  "/js/strings.js",
  "/js/timezones.js",
  "/js/pensioner/attempt.js",
  "/js/pensioner/booking.js",
  "/js/pensioner/consular.js",
  "/js/pensioner/home.js",
  "/js/pensioner/page.js",
  "/js/pensioner/resumable.js",
  "/js/pensioner/selfie.js",
  "/js/pensioner/video-call.js",
  "/manifest.webmanifest",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
];

sw.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => sw.skipWaiting()));
});

sw.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => sw.clients.claim()),
  );
});

/** @param {Request} request */
async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  const path = new URL(request.url).pathname;
  const key = request.mode === "navigate" || path === "/index.html" ? "/" : path;
  try {
    const response = await fetch(request);
    if (response.ok && SHELL.includes(key)) await cache.put(key, response.clone());
    return response;
  } catch (err) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw err;
  }
}

sw.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== sw.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/staff")) return;
  event.respondWith(networkFirst(event.request));
});
