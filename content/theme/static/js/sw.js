/* The offline service worker, served at /sw.js (a stable, short-cached route; the build
   copies this file there). Registered by js/offline.js; without it, or when it fails,
   the site works exactly as without a worker.

   - Pages (HTML) come from the network first; each one a student opened is kept, and
     served when the network fails or a gateway answers 502-504 for a server it cannot
     reach, marked so the page shows its "offline" notice. An unvisited page offline
     answers a small offline page (503), never the browser's error.
   - A range request (video) is cut from a kept whole copy of an immutable file (a saved
     course's videos play offline); otherwise it goes to the network.
   - The pages and files kept from browsing are bounded (the newest MAX_PAGES pages and
     MAX_OBJECTS files; a page visited again counts as new); saved courses are not.
   - Immutable files (fingerprinted assets, lab and animation bundles, search chunks:
     `Cache-Control: ... immutable`) come from a cache first: their bytes never change.
   - Saved courses (js/offline.js writes them, one cache per course) are just more caches:
     anything in any of this site's caches answers when the network does not.

   Pages of two releases never mix in one view: a page and the immutable files it names
   are kept together, and a stable page is only ever replaced whole. */
'use strict';

var PAGES = 'pages-v1';
var OBJECTS = 'objects-v1';
var OWN = /^(pages-v1|objects-v1|offline-meta-v1|course:.+)$/;
// A theme may bound them otherwise where it registers the worker, as
// `/sw.js?pages=N&objects=M` (the origin serves the same worker whatever the query): a
// whole number from 1 to ten times the default; anything else is the default.
function bound(name, fallback) {
  var text = new URL(self.location.href).searchParams.get(name) || '';
  var value = /^[0-9]{1,9}$/.test(text) ? Number(text) : 0;
  return value >= 1 && value <= fallback * 10 ? value : fallback;
}
var MAX_PAGES = bound('pages', 300);
var MAX_OBJECTS = bound('objects', 3000);

// Drops the oldest entries of cache `name` beyond `max` (keys come in insertion order,
// and a put replaces an entry at the end).
function trim(name, max) {
  return caches.open(name).then(function (cache) {
    return cache.keys().then(function (keys) {
      return Promise.all(keys.slice(0, Math.max(0, keys.length - max)).map(function (k) { return cache.delete(k); }));
    });
  });
}

function keep(name, max, url, response) {
  return caches.open(name).then(function (c) { return c.put(url, response); })
    .then(function () { return trim(name, max); });
}

self.addEventListener('install', function () { self.skipWaiting(); });

self.addEventListener('activate', function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    // Caches of an older layout of this worker go.
    return Promise.all(names.filter(function (n) { return !OWN.test(n); })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

function isPage(request) {
  return request.mode === 'navigate' || (request.headers.get('accept') || '').indexOf('text/html') >= 0;
}

function isImmutable(response) {
  return /\bimmutable\b/.test(response.headers.get('cache-control') || '');
}

// A copy of a kept page, marked as served offline (the page's JS shows the notice).
function markedOffline(response) {
  return response.text().then(function (html) {
    var headers = new Headers(response.headers);
    headers.delete('content-length');
    return new Response(html.replace(/<html\b/i, '<html data-offline-copy'), {
      status: response.status, statusText: response.statusText, headers: headers,
    });
  });
}

function offlinePage() {
  var html = '<!DOCTYPE html><html lang="en" data-offline-copy><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Offline</title></head>' +
    '<body><main id="main-content"><div class="notice offline-notice" role="status">' +
    '<h1>You are offline</h1><p>This page has not been saved on this device. Pages you ' +
    'opened before, and courses you saved for offline, still open.</p>' +
    '<p><a href="/">Home</a></p></div></main></body></html>';
  return new Response(html, {
    status: 503, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
  });
}

// A gateway's answer for a server it cannot reach (an edge whose origins are down, a
// proxy cut off upstream) is no better than no network: a kept copy is shown instead.
function unreachable(response) {
  return response.status === 502 || response.status === 503 || response.status === 504;
}

function page(event) {
  var request = event.request;
  var kept = function () { return caches.match(request.url, { ignoreSearch: true }); };
  return fetch(request).then(function (response) {
    if (response.ok && response.type === 'basic') {
      var copy = response.clone();
      event.waitUntil(keep(PAGES, MAX_PAGES, request.url, copy));
    }
    if (!unreachable(response)) return response;
    return kept().then(function (copy) { return copy ? markedOffline(copy) : response; });
  }, function () {
    return kept().then(function (copy) { return copy ? markedOffline(copy) : offlinePage(); });
  });
}

function file(event) {
  var request = event.request;
  return caches.match(request.url, { ignoreSearch: true }).then(function (kept) {
    if (kept && isImmutable(kept)) return kept;
    return fetch(request).then(function (response) {
      if (response.ok && response.status === 200 && response.type === 'basic' && isImmutable(response)) {
        var copy = response.clone();
        event.waitUntil(keep(OBJECTS, MAX_OBJECTS, request.url, copy));
      }
      return response;
    }, function (err) {
      if (kept) return kept;
      throw err;
    });
  });
}

// One range (`bytes=a-b`, `a-`, `-n`) of `size` bytes: [start, end] or null.
function rangeOf(header, size) {
  var m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  var start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1]);
  var end = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start <= end ? [start, end] : null;
}

// A range of a kept immutable file (a video asks for `bytes=0-` and on), cut from the
// whole copy a saved course holds, so its videos play offline; a file not kept, or
// several ranges, go to the network as without a worker.
function ranged(event) {
  var request = event.request;
  var header = request.headers.get('range');
  if (header.indexOf(',') >= 0) return fetch(request);
  return caches.match(request.url, { ignoreSearch: true }).then(function (kept) {
    if (!kept || kept.status !== 200 || !isImmutable(kept)) return fetch(request);
    return kept.arrayBuffer().then(function (bytes) {
      var range = rangeOf(header, bytes.byteLength);
      if (!range) {
        return new Response('', { status: 416, headers: { 'content-range': 'bytes */' + bytes.byteLength } });
      }
      var headers = new Headers(kept.headers);
      headers.set('content-range', 'bytes ' + range[0] + '-' + range[1] + '/' + bytes.byteLength);
      headers.set('content-length', String(range[1] - range[0] + 1));
      return new Response(bytes.slice(range[0], range[1] + 1), { status: 206, headers: headers });
    });
  });
}

self.addEventListener('fetch', function (event) {
  var request = event.request;
  if (request.method !== 'GET') return;
  var url = new URL(request.url);
  // Other sites and the origin's own API go straight to the network.
  if (url.origin !== self.location.origin || /^\/_(origin|live)\//.test(url.pathname) ||
      url.pathname === '/sw.js') return;
  // Whatever goes wrong in here, the answer is the network's, as without a worker.
  var answer = request.headers.has('range') ? ranged(event) : isPage(request) ? page(event) : file(event);
  event.respondWith(answer.catch(function () { return fetch(request); }));
});
