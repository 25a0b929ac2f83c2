/* Site search: Pagefind's index, built by `course build` into /_search/ (public lessons)
   and /courses/<slug>/_search/ (an enrolled course's lessons, behind its grant). Nothing
   loads until the box is used; an enrolled course's index is merged in only when this
   browser can fetch it (the grant cookie opens it), so a student sees results from the
   courses they may read. No framework, no inline handlers; without JS the box does
   nothing and the page is as before. */
(function () {
  'use strict';

  var form = document.querySelector('form[data-search]');
  if (!form) return;
  var input = form.querySelector('input[type="search"]');
  var list = form.querySelector('.site-search-results');
  var status = form.querySelector('.site-search-status');
  var scope = form.querySelector('input[name="course"]');
  var BASE = '/_search/';
  var loading = null;
  var seq = 0;

  // Routes whose entry in a base index is stale: the delta index holds the new one.
  var stale = {};

  // A scope's segments.json (stable, revalidated on each load): its tag, whether it has
  // a base and a delta index, the delta's weight, and the stale routes. Pagefind asks for each entry file
  // with the tag, so an entry cached from an older index is never used.
  function segmentsOf(base) {
    return fetch(base + 'segments.json', { credentials: 'same-origin', cache: 'no-cache' })
      .then(function (res) { return res.ok ? res.json() : null; })
      .catch(function () { return null; });
  }

  function options(tag) { return { baseUrl: '/', metaCacheTag: tag, excerptLength: 20 }; }

  // Whether the delta indexes are merged: after a search failed twice they are left out
  // (a delta an edge cannot serve must not take the base's results with it).
  var withDeltas = true;
  // Whether any index was merged into the public one: then one index's answer to a word
  // it lacks (Pagefind's near matches) can crowd out another's exact match.
  var merged = false;

  // The delta (and, for a course, the base) index of a scope, into the primary.
  function mergeScope(pagefind, base, segments, primary) {
    if (!segments) return null;
    (segments.stale || []).forEach(function (route) { stale[route] = true; });
    var merges = [];
    if (!primary && segments.base) merges.push(pagefind.mergeIndex(base, options(segments.tag)));
    merged = merged || merges.length > 0 || (segments.delta && withDeltas);
    if (segments.delta && withDeltas) {
      var delta = options(segments.tag);
      delta.indexWeight = segments.weight || 1;
      merges.push(pagefind.mergeIndex(base + 'delta/', delta));
    }
    return Promise.all(merges).catch(function () { return null; });
  }

  function load() {
    if (loading) return loading;
    loading = Promise.all([segmentsOf(BASE), import(BASE + 'pagefind.js')]).then(function (got) {
      var segments = got[0] || {};
      var pagefind = got[1];
      var primary = options(segments.tag || '1');
      primary.basePath = BASE;
      return pagefind.options(primary)
        .then(function () { return pagefind.init(); })
        .then(function () { return mergeScope(pagefind, BASE, segments, true); })
        .then(function () { return mergeEnrolled(pagefind); })
        .then(function () { return pagefind; });
    });
    loading.catch(function () { loading = null; });
    return loading;
  }

  // The courses this browser holds a grant for, as the grant's hint cookies say
  // (`course-grant.<slug>`: readable, unlike the grant, which is HttpOnly and sent only
  // under its course). A hint is never trusted: the grant is what opens the index.
  function hintedCourses() {
    var hinted = {};
    document.cookie.split(';').forEach(function (pair) {
      var name = pair.split('=')[0].trim();
      if (name.indexOf('course-grant.') === 0) hinted[name.slice('course-grant.'.length)] = true;
    });
    return hinted;
  }

  // Each enrolled course's indexes where a grant is hinted at, and on an enrolled-only
  // lesson those of its course (read with its grant, whoever issued it): asking for every
  // enrolled course's got a 403 for each one the student may not read.
  function mergeEnrolled(pagefind) {
    var hinted = hintedCourses();
    var here = form.getAttribute('data-granted-course');
    var slugs = (form.getAttribute('data-enrolled') || '').split(/\s+/).filter(function (slug) {
      return slug && (hinted[slug] || slug === here);
    });
    return Promise.all(slugs.map(function (slug) {
      var base = '/courses/' + encodeURIComponent(slug) + '/_search/';
      return segmentsOf(base).then(function (segments) { return mergeScope(pagefind, base, segments, false); });
    }));
  }

  // A release since the indexes were loaded may have removed the chunks they name: drop
  // them and load the current ones.
  function reload() {
    var was = loading;
    loading = null;
    stale = {};
    merged = false;
    return (was || Promise.reject()).then(function (pagefind) { return pagefind.destroy(); })
      .catch(function () {});
  }

  // A base result for a route the delta holds anew is dropped, and so is the home page
  // standing in for a public index of no lesson.
  function current(data) {
    if (data.meta && data.meta.standin) return false;
    return !stale[data.url] || (data.meta && data.meta.segment === 'delta');
  }

  // The words a result's excerpt marks.
  function marked(data) {
    var found = [];
    (data.excerpt || '').replace(/<mark>([^<]*)<\/mark>/g, function (_, word) { found.push(word.toLowerCase()); });
    return found;
  }

  // Whether a result matched a word of the query, not one of Pagefind's near matches for a
  // word its index lacks (`wombat` answered with pages holding `w`): a marked word shares
  // at least half the query word's letters from the start (3 at least: a stem's share).
  function genuine(data, words) {
    var marks = marked(data);
    if (!marks.length) return true;
    return marks.some(function (m) {
      return words.some(function (w) {
        var need = Math.min(w.length, Math.max(3, Math.floor(w.length / 2)));
        var i = 0;
        while (i < m.length && i < w.length && m.charAt(i) === w.charAt(i)) i++;
        return i >= need;
      });
    });
  }

  // Near matches are shown only when no index had the word itself.
  function exactFirst(results, query) {
    var words = query.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(function (w) { return w.length > 0; });
    var exact = results.filter(function (d) { return genuine(d, words); });
    return exact.length ? exact : results;
  }

  // Pagefind's excerpt is HTML-escaped text with <mark> around the matches: rebuild it
  // as text nodes and <mark> elements only.
  function excerptNodes(html) {
    var parsed = new DOMParser().parseFromString('<p>' + html + '</p>', 'text/html').body;
    var out = document.createDocumentFragment();
    (function walk(node) {
      node.childNodes.forEach(function (child) {
        if (child.nodeType === 3) out.appendChild(document.createTextNode(child.textContent));
        else if (child.nodeName === 'MARK') {
          var mark = document.createElement('mark');
          mark.textContent = child.textContent;
          out.appendChild(mark);
        } else walk(child);
      });
    })(parsed);
    return out;
  }

  function show(results, query) {
    list.textContent = '';
    results = results.filter(function (r) {
      return typeof r.url === 'string' && r.url.charAt(0) === '/' && r.url.charAt(1) !== '/';
    });
    results.forEach(function (r) {
      var li = document.createElement('li');
      li.className = 'site-search-result';
      var a = document.createElement('a');
      a.href = r.url;
      var title = document.createElement('span');
      title.className = 'site-search-title';
      title.textContent = (r.meta && r.meta.title) || r.url;
      a.appendChild(title);
      if (r.meta && r.meta.course) {
        var course = document.createElement('span');
        course.className = 'site-search-course';
        course.textContent = r.meta.course;
        a.appendChild(course);
      }
      var excerpt = document.createElement('span');
      excerpt.className = 'site-search-excerpt';
      excerpt.appendChild(excerptNodes(r.excerpt || ''));
      a.appendChild(excerpt);
      li.appendChild(a);
      list.appendChild(li);
    });
    list.hidden = results.length === 0;
    status.textContent = results.length === 0
      ? 'No lessons match \u201c' + query + '\u201d'
      : results.length + (results.length === 1 ? ' lesson matches' : ' lessons match');
    form.setAttribute('data-searched', query);
  }

  function run(retried) {
    var query = input.value.trim();
    var mine = ++seq;
    if (!query) {
      list.textContent = '';
      list.hidden = true;
      status.textContent = '';
      form.removeAttribute('data-searched');
      return;
    }
    status.textContent = 'Searching\u2026';
    load().then(function (pagefind) {
      var options = {};
      if (scope && scope.checked) options.filters = { course: scope.value };
      return pagefind.debouncedSearch(query, options, 150);
    }).then(function (search) {
      if (search === null || mine !== seq) return null; // superseded by a newer query
      // With merged indexes, a few more results are read: near matches of one index may
      // rank above another's exact ones, and are then dropped.
      var wanted = search.results.slice(0, 10 + Object.keys(stale).length + (merged ? 10 : 0));
      return Promise.all(wanted.map(function (r) { return r.data(); })).then(function (data) {
        if (mine === seq) show(exactFirst(data.filter(current), query).slice(0, 10), query);
      });
    }).catch(function () {
      if (mine !== seq) return;
      // Once more with indexes loaded afresh; then without the deltas; then give up.
      var attempt = (retried || 0) + 1;
      if (attempt === 2) withDeltas = false;
      if (attempt <= 2) reload().then(function () { if (mine === seq) run(attempt); });
      else status.textContent = 'Search is unavailable right now.';
    });
  }

  function results() { return Array.prototype.slice.call(list.querySelectorAll('a')); }

  form.addEventListener('submit', function (e) { e.preventDefault(); run(); });
  input.addEventListener('input', function () { run(); });
  input.addEventListener('focus', function () { load().catch(function () {}); }, { once: true });
  if (scope) scope.addEventListener('change', function () { run(); });
  // A click elsewhere folds the results away; back in the box, they show again.
  document.addEventListener('click', function (e) { if (!form.contains(e.target)) list.hidden = true; });
  input.addEventListener('focus', function () { if (list.children.length) list.hidden = false; });
  // Arrow keys move between the box and the results; Escape clears and returns.
  form.addEventListener('keydown', function (e) {
    var links = results();
    var at = links.indexOf(document.activeElement);
    if (e.key === 'ArrowDown' && links.length) {
      e.preventDefault();
      links[Math.min(at + 1, links.length - 1)].focus();
    } else if (e.key === 'ArrowUp' && at >= 0) {
      e.preventDefault();
      if (at === 0) input.focus(); else links[at - 1].focus();
    } else if (e.key === 'Escape') {
      input.value = '';
      run();
      input.focus();
    }
  });
})();
