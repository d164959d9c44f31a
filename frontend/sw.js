// TaskFlow service worker: the app's shell (HTML, scripts, styles) offline, nothing else.
// API answers (/api/, /ws/, /ical/, /events/…) are never cached nor answered from here: a stale list of
// tasks is never served as if it were fresh. The page keeps its own offline copy, which says how old it
// is, and its own queue of changes (IndexedDB); sign out removes both.
"use strict";
const CACHE = "taskflow-shell-v8";
const SHELL = ["/", "/static/app.css", "/static/app.js", "/static/sync.js", "/static/subtasks.js", "/static/views.js", "/static/organise.js", "/static/shell.js", "/static/filters.js", "/static/manifest.webmanifest", "/static/icon.svg"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

// The page's own addresses (a view, a list, a task, a saved filter, a tag, the settings) are the page: offline, the cached "/".
const ADDRESSES = /^\/(inbox|today|upcoming|all|completed|search|settings|lists\/[0-9A-Fa-f-]+|tasks\/[0-9A-Fa-f-]+|filters\/[0-9A-Fa-f-]+|tags\/[^/]+)\/?$/;

function isShell(url) {
  return url.pathname === "/" || url.pathname.startsWith("/static/") || ADDRESSES.test(url.pathname);
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  // Everything else (the API above all) goes to the network untouched: offline it fails, and the page says so.
  if (event.request.method !== "GET" || url.origin !== self.location.origin || !isShell(url)) return;
  // Network first so a deploy shows at once; the cached shell only when the network is gone.
  event.respondWith(fetch(event.request).then((response) => {
    if (response.ok && response.type === "basic") {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => cache.put(event.request, copy));
    }
    return response;
  }).catch(() => caches.match(event.request, { ignoreSearch: true })
    .then((hit) => hit || (event.request.mode === "navigate" ? caches.match("/") : undefined))
    .then((hit) => hit || Response.error())));
});
