// course serve's live reload client (added to pages by the preview origin only; never part
// of a release). It listens to /_live/events for what each new release means for this page:
//   reload  - the page changed: reload it, keeping the scroll position;
//   styles  - only its stylesheets changed: swap them in place, no reload;
//   release - the page is unchanged;
//   errors  - the latest rebuild's content errors: shown over the page (empty: hidden).
// No inline styles or scripts (the site's CSP forbids them): styles are set through the CSSOM.
(function () {
  "use strict";
  var script = document.currentScript;
  var release = (script && script.getAttribute("data-release")) || "";
  var route = location.pathname;
  var scrollKey = "course-live-scroll:" + route;

  var saved = sessionStorage.getItem(scrollKey);
  if (saved !== null) {
    sessionStorage.removeItem(scrollKey);
    var xy = saved.split(",");
    var restore = function () { window.scrollTo(Number(xy[0]) || 0, Number(xy[1]) || 0); };
    if (document.readyState === "complete") restore(); else window.addEventListener("load", restore);
  }

  function reload() {
    sessionStorage.setItem(scrollKey, window.scrollX + "," + window.scrollY);
    location.reload();
  }

  function swapStyles(pairs) {
    var links = document.querySelectorAll('link[rel="stylesheet"]');
    pairs.forEach(function (pair) {
      links.forEach(function (link) {
        if (link.getAttribute("href") === pair[0]) link.setAttribute("href", pair[1]);
      });
    });
  }

  function css(el, props) { for (var k in props) el.style[k] = props[k]; return el; }

  // The overlay shown now (ours: never an element of the page with the same id).
  var overlay = null;

  // The caret under column `col` of `line`: tabs kept as tabs, so it lines up.
  function caretUnder(line, col) {
    var pad = "";
    for (var i = 0; i < col - 1; i++) pad += line.charAt(i) === "\t" ? "\t" : " ";
    return pad + "^";
  }

  function showErrors(errors) {
    if (overlay) overlay.remove();
    overlay = null;
    if (!errors.length) return;
    var box = css(document.createElement("div"), {
      position: "fixed", inset: "0", zIndex: "2147483647", overflow: "auto",
      background: "rgba(20, 20, 24, 0.94)", color: "#f4f4f5", padding: "2rem",
      font: "14px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
    });
    box.setAttribute("data-course-live-overlay", "");
    overlay = box;
    box.setAttribute("role", "alert");
    var title = css(document.createElement("h2"), { color: "#fca5a5", margin: "0 0 1rem", font: "inherit", fontSize: "18px" });
    title.textContent = errors.length + " content error" + (errors.length === 1 ? "" : "s") +
      ": the last good build is still served underneath";
    box.appendChild(title);
    var list = css(document.createElement("ol"), { margin: "0", padding: "0 0 0 1.5rem" });
    errors.forEach(function (e) {
      var item = css(document.createElement("li"), { marginBottom: "1rem" });
      item.className = "course-live-error";
      var where = css(document.createElement("div"), { color: "#fde68a" });
      where.textContent = e.file + ":" + e.line + ":" + e.col + ": " + e.message;
      item.appendChild(where);
      if (e.source_line !== null && e.source_line !== undefined) {
        var pre = css(document.createElement("pre"), { margin: "0.25rem 0 0", whiteSpace: "pre", color: "#e4e4e7" });
        var caret = caretUnder(e.source_line, Math.max(e.col, 1));
        pre.textContent = e.line + " | " + e.source_line + "\n" +
          new Array(String(e.line).length + 1).join(" ") + " | " + caret;
        item.appendChild(pre);
      }
      list.appendChild(item);
    });
    box.appendChild(list);
    document.body.appendChild(box);
  }

  // One stream per *visible* page: a browser allows 6 connections per host, so hidden tabs
  // let theirs go and reconnect when shown (then learn what they missed at once).
  var source = null;
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { if (source) { source.close(); source = null; } }
    else if (!source) connect();
  });
  function connect() {
    source = new EventSource("/_live/events?route=" + encodeURIComponent(route) +
      "&release=" + encodeURIComponent(release));
    source.addEventListener("reload", function () { if (source) source.close(); reload(); });
    source.addEventListener("styles", function (event) {
      var data = JSON.parse(event.data);
      swapStyles(data.swap);
      release = data.release;
    });
    source.addEventListener("release", function (event) { release = JSON.parse(event.data).release; });
    source.addEventListener("errors", function (event) { showErrors(JSON.parse(event.data)); });
    // Reconnect by hand (the server may have restarted), saying which release we show now.
    var mine = source;
    source.onerror = function () {
      mine.close();
      if (source !== mine) return;
      source = null;
      setTimeout(function () { if (!source && !document.hidden) connect(); }, 500);
    };
  }
  if (!document.hidden) connect();
})();
