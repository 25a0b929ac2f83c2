/* Offline: registers the service worker (js/sw.js, served at /sw.js), shows the
   "offline" notice, and runs "Save this course for offline" on course pages. A course's
   save list (/courses/<slug>/_offline.json, built by `course build`; an enrolled course's
   only under its grant) names every file of the course with its object key and size, so
   the total is shown before anything is downloaded, and an update fetches only the files
   whose key changed (immutable files are never fetched twice; pages are revalidated by
   ETag). Each saved course is one cache, `course:<slug>`; its record (the list it was
   saved from) is in `offline-meta-v1`. Nothing here is needed for the site to work: without
   service workers, or when registering fails, pages are as before. */
(function () {
  'use strict';

  var doc = document;
  var META = 'offline-meta-v1';
  var RECORD = '/__offline__/';

  function showNotice() {
    var notice = doc.querySelector('[data-offline-notice]');
    if (!notice) return;
    var copy = doc.documentElement.hasAttribute('data-offline-copy');
    notice.hidden = !(copy || navigator.onLine === false);
  }
  showNotice();
  window.addEventListener('online', showNotice);
  window.addEventListener('offline', showNotice);

  if (!('serviceWorker' in navigator) || !window.caches || location.protocol === 'file:') return;
  // `course serve`'s live preview (its reload client names the release it shows) reloads
  // pages as they are edited: no worker there.
  if (doc.querySelector('script[data-release]')) return;

  function human(bytes) {
    var units = ['bytes', 'KB', 'MB', 'GB'];
    var i = 0;
    while (bytes >= 1000 && i < units.length - 1) { bytes /= 1000; i++; }
    return (i === 0 ? bytes : bytes.toFixed(1)) + ' ' + units[i];
  }

  function readRecord(slug) {
    return caches.open(META).then(function (c) { return c.match(RECORD + slug); })
      .then(function (r) { return r ? r.json() : null; });
  }

  function writeRecord(slug, list) {
    var body = JSON.stringify({ list: list, checked: Date.now() });
    return caches.open(META).then(function (c) {
      return c.put(RECORD + slug, new Response(body, { headers: { 'content-type': 'application/json' } }));
    });
  }

  function listUrl(slug) { return '/courses/' + encodeURIComponent(slug) + '/_offline.json'; }

  // Only this site's own paths are ever fetched or kept, whatever a list says.
  function sitePath(url) { return typeof url === 'string' && url.charAt(0) === '/' && url.charAt(1) !== '/'; }

  function fetchList(slug) {
    return fetch(listUrl(slug), { credentials: 'same-origin', cache: 'no-cache' }).then(function (res) {
      if (!res.ok) { var e = new Error('list ' + res.status); e.status = res.status; throw e; }
      return res.json();
    }).then(function (list) {
      if (!list || !Array.isArray(list.files) || !list.files.every(function (f) { return sitePath(f.url); })) {
        throw new Error('not a save list');
      }
      return list;
    });
  }

  /* A release published while saving: a file is not the one listed (an object's key is
     the SHA-256 of its bytes), so the save stops rather than keep pages of two releases. */
  function matches(res, f) {
    if (!(window.crypto && crypto.subtle)) return Promise.resolve();
    return res.clone().arrayBuffer().then(function (bytes) {
      return crypto.subtle.digest('SHA-256', bytes);
    }).then(function (hash) {
      var hex = Array.prototype.map.call(new Uint8Array(hash), function (b) {
        return (b < 16 ? '0' : '') + b.toString(16);
      }).join('');
      if (hex !== f.object) throw new Error(f.url + ' changed while saving');
    });
  }

  /* Brings the course's cache to `list`: fetches the files it lacks or whose object
     changed, immutable files first and pages last, and puts the pages in only once every
     file is in, so no page is ever kept without what it shows. Calls progress(done, total,
     bytes). Answers the URLs fetched. */
  function store(slug, list, old, progress) {
    var had = {};
    ((old && old.files) || []).forEach(function (f) { had[f.url] = f.object; });
    var wanted = {};
    list.files.forEach(function (f) { wanted[f.url] = true; });
    return caches.open('course:' + slug).then(function (cache) {
      return Promise.all(list.files.map(function (f) {
        return cache.match(f.url).then(function (hit) { return hit && had[f.url] === f.object ? null : f; });
      })).then(function (todo) {
        todo = todo.filter(Boolean);
        var pages = [];
        var done = 0;
        var bytes = 0;
        var chain = Promise.resolve();
        todo.forEach(function (f) {
          chain = chain.then(function () {
            return fetch(f.url, { credentials: 'same-origin', cache: 'no-cache' }).then(function (res) {
              if (!res.ok) throw new Error(f.url + ': ' + res.status);
              return matches(res, f).then(function () { return res; });
            }).then(function (res) {
              var html = (res.headers.get('content-type') || '').indexOf('text/html') === 0;
              done++;
              bytes += f.size;
              progress(done, todo.length, bytes);
              if (html) { pages.push([f.url, res]); return null; }
              return cache.put(f.url, res);
            });
          });
        });
        return chain.then(function () {
          return Promise.all(pages.map(function (p) { return cache.put(p[0], p[1]); }));
        }).then(function () {
          return cache.keys();
        }).then(function (keys) {
          return Promise.all(keys.filter(function (req) { return !wanted[new URL(req.url).pathname]; })
            .map(function (req) { return cache.delete(req); }));
        }).then(function () {
          return writeRecord(slug, list);
        }).then(function () {
          return todo.map(function (f) { return f.url; });
        });
      });
    });
  }

  /* A saved course whose list changed since (a new release) is brought up to date. */
  function update(slug, record) {
    return fetchList(slug).then(function (list) {
      var same = JSON.stringify(list) === JSON.stringify(record.list);
      if (same) return writeRecord(slug, list).then(function () { return []; });
      return store(slug, list, record.list, function () {});
    });
  }

  function initSave(section) {
    var slug = section.getAttribute('data-offline-course');
    var status = section.querySelector('.offline-save-status');
    var save = section.querySelector('[data-offline-action="save"]');
    var remove = section.querySelector('[data-offline-action="remove"]');
    var bar = section.querySelector('progress');
    var list = null;

    function state(name, text) {
      section.setAttribute('data-offline-state', name);
      status.textContent = text;
      save.hidden = !(name === 'unsaved' || name === 'error');
      remove.hidden = name !== 'saved';
      bar.hidden = name !== 'saving';
      section.hidden = false;
    }

    function fetched(urls) { section.setAttribute('data-offline-fetched', JSON.stringify(urls)); }

    function offerSave() {
      return fetchList(slug).then(function (l) {
        list = l;
        save.textContent = 'Save this course for offline (' + human(l.bytes) + ')';
        state('unsaved', l.files.length + ' files, ' + human(l.bytes) + ' in all.');
      }, function (e) {
        // Without a grant an enrolled course's list is refused: nothing is stored.
        if (e.status === 403) state('denied', 'Saving this course needs your enrolment.');
        else section.hidden = true;
      });
    }

    save.addEventListener('click', function () {
      if (!list) return;
      state('saving', 'Saving\u2026');
      bar.max = list.files.length;
      bar.value = 0;
      store(slug, list, null, function (done, total, bytes) {
        bar.value = done;
        bar.max = total;
        status.textContent = 'Saving\u2026 ' + done + ' of ' + total + ' files (' + human(bytes) + ')';
      }).then(function (urls) {
        fetched(urls);
        state('saved', 'Saved for offline: ' + human(list.bytes) + ' on this device.');
      }, function () {
        // The list is fetched again: a retry saves the release that is live then.
        offerSave().then(function () {
          if (section.getAttribute('data-offline-state') === 'unsaved') {
            state('error', 'Saving stopped (the connection dropped, or a new version came out). Try again to finish.');
          }
        });
      });
    });

    remove.addEventListener('click', function () {
      caches.delete('course:' + slug).then(function () {
        return caches.open(META);
      }).then(function (c) { return c.delete(RECORD + slug); }).then(function () {
        return offerSave();
      });
    });

    readRecord(slug).then(function (record) {
      if (!record) return offerSave();
      list = record.list;
      state('saved', 'Saved for offline: ' + human(list.bytes) + ' on this device.');
      if (navigator.onLine === false) return null;
      section.setAttribute('data-offline-updating', '');
      return update(slug, record).then(function (urls) {
        list = null;
        return readRecord(slug).then(function (r) {
          list = r.list;
          fetched(urls);
          section.removeAttribute('data-offline-updating');
          state('saved', 'Saved for offline: ' + human(list.bytes) + ' on this device' +
            (urls.length ? ' (updated ' + urls.length + ' files).' : '.'));
        });
      }, function (e) {
        section.removeAttribute('data-offline-updating');
        // A grant that ended: the saved copy stays until removed, and is not updated.
        if (e.status === 403) status.textContent = 'Saved copy kept; updating it needs your enrolment.';
      });
    }).catch(function () { section.hidden = true; });
  }

  /* Other pages keep saved courses up to date too, at most once a minute. */
  function updateSaved(except) {
    if (navigator.onLine === false) return;
    caches.open(META).then(function (c) { return c.keys(); }).then(function (keys) {
      keys.forEach(function (req) {
        var slug = decodeURIComponent(new URL(req.url).pathname.slice(RECORD.length));
        if (slug === except) return;
        readRecord(slug).then(function (record) {
          if (record && Date.now() - record.checked > 60000) return update(slug, record);
          return null;
        }).catch(function () {});
      });
    }).catch(function () {});
  }

  navigator.serviceWorker.register('/sw.js').then(function () {
    return navigator.serviceWorker.ready;
  }).then(function () {
    var section = doc.querySelector('[data-offline-course]');
    if (section) initSave(section);
    updateSaved(section && section.getAttribute('data-offline-course'));
  }).catch(function () {
    // A blocked or failed worker: the site works as without one.
  });
})();
