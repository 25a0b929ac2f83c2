// Regex playground: matches a pattern against text live.
// Loaded with <script src>, no inline code, so it runs under a strict CSP.
(function () {
  "use strict";

  var MAX_MATCHES = 500;

  var FALLBACK_SAMPLES = [
    {
      name: "Dates (ISO 8601)",
      pattern: "(?<year>\\d{4})-(?<month>\\d{2})-(?<day>\\d{2})",
      flags: "g",
      text: "Course opens 2025-03-01, the first quiz is due 2025-03-14."
    }
  ];

  var el = {
    sample: document.getElementById("sample"),
    pattern: document.getElementById("pattern"),
    flags: Array.prototype.slice.call(document.querySelectorAll(".flags input")),
    text: document.getElementById("text"),
    error: document.getElementById("error"),
    highlight: document.getElementById("highlight"),
    count: document.getElementById("count"),
    rows: document.getElementById("rows"),
    hint: document.getElementById("hint")
  };

  var samples = [];

  function currentFlags() {
    return el.flags.filter(function (box) { return box.checked; })
      .map(function (box) { return box.value; }).join("");
  }

  function setFlags(flags) {
    el.flags.forEach(function (box) { box.checked = flags.indexOf(box.value) !== -1; });
  }

  function showError(message) {
    el.error.textContent = message;
    el.error.hidden = !message;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function cell(row, content, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    if (content instanceof Node) td.appendChild(content); else td.textContent = content;
    row.appendChild(td);
    return td;
  }

  function code(text) {
    var c = document.createElement("code");
    c.textContent = JSON.stringify(text);
    return c;
  }

  // Collect matches without looping forever on empty matches.
  function findMatches(re, text) {
    var out = [];
    if (!re.global) {
      var m = re.exec(text);
      if (m) out.push(m);
      return out;
    }
    re.lastIndex = 0;
    var match;
    while ((match = re.exec(text)) !== null && out.length < MAX_MATCHES) {
      out.push(match);
      if (match[0] === "") re.lastIndex += 1;  // step past an empty match
    }
    return out;
  }

  function describeGroups(m) {
    var frag = document.createDocumentFragment();
    var names = m.groups ? Object.keys(m.groups) : [];
    if (m.length <= 1) {
      var none = document.createElement("span");
      none.className = "none";
      none.textContent = "no groups";
      frag.appendChild(none);
      return frag;
    }
    for (var i = 1; i < m.length; i++) {
      var line = document.createElement("div");
      var label = String(i);
      names.forEach(function (name) { if (m.groups[name] === m[i] && m[i] !== undefined) label = i + " (" + name + ")"; });
      line.appendChild(document.createTextNode(label + ": "));
      if (m[i] === undefined) {
        var u = document.createElement("span");
        u.className = "none";
        u.textContent = "did not participate";
        line.appendChild(u);
      } else {
        line.appendChild(code(m[i]));
      }
      frag.appendChild(line);
    }
    return frag;
  }

  function render() {
    var source = el.pattern.value;
    var text = el.text.value;
    clear(el.highlight);
    clear(el.rows);
    el.count.textContent = "0";
    el.hint.textContent = "";

    if (source === "") {
      showError("");
      el.highlight.textContent = text;
      el.hint.textContent = "Type a pattern to start.";
      return;
    }

    var re;
    try {
      re = new RegExp(source, currentFlags());
    } catch (err) {
      showError(err.message);
      el.highlight.textContent = text;
      return;
    }
    showError("");

    var matches = findMatches(re, text);
    var pos = 0;
    matches.forEach(function (m, n) {
      el.highlight.appendChild(document.createTextNode(text.slice(pos, m.index)));
      var mark = document.createElement("mark");
      mark.textContent = m[0];
      mark.className = (n % 2 ? "alt" : "") + (m[0] === "" ? " empty" : "");
      mark.title = "match " + (n + 1) + " at " + m.index;
      el.highlight.appendChild(mark);
      pos = m.index + m[0].length;

      var row = document.createElement("tr");
      cell(row, String(n + 1));
      cell(row, String(m.index));
      cell(row, code(m[0]));
      cell(row, describeGroups(m));
      el.rows.appendChild(row);
    });
    el.highlight.appendChild(document.createTextNode(text.slice(pos)));
    el.count.textContent = String(matches.length);

    if (matches.length === 0) {
      el.hint.textContent = "No match. Try removing part of the pattern until something matches, then add it back piece by piece.";
    } else if (!re.global) {
      el.hint.textContent = "Without the g flag only the first match is reported.";
    } else if (matches.length >= MAX_MATCHES) {
      el.hint.textContent = "Stopped after " + MAX_MATCHES + " matches.";
    }
  }

  function loadSample(index) {
    var s = samples[index];
    if (!s) return;
    el.pattern.value = s.pattern;
    setFlags(s.flags);
    el.text.value = s.text;
    render();
  }

  function fillPicker(list) {
    samples = list;
    clear(el.sample);
    list.forEach(function (s, i) {
      var opt = document.createElement("option");
      opt.value = String(i);
      opt.textContent = s.name;
      el.sample.appendChild(opt);
    });
    loadSample(0);
  }

  el.sample.addEventListener("change", function () { loadSample(Number(el.sample.value)); });
  el.pattern.addEventListener("input", render);
  el.text.addEventListener("input", render);
  el.flags.forEach(function (box) { box.addEventListener("change", render); });

  fetch("samples.json")
    .then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.json();
    })
    .then(function (list) {
      fillPicker(Array.isArray(list) && list.length ? list : FALLBACK_SAMPLES);
    })
    .catch(function () { fillPicker(FALLBACK_SAMPLES); });
})();
