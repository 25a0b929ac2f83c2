// CSS keyframes lab. All styling changes go through the CSSOM (insertRule on the
// lab's own stylesheet), so the page needs no inline styles and runs under a
// strict Content-Security-Policy.
(function () {
  "use strict";

  var FALLBACK_PRESETS = [
    {
      name: "Slide and spin",
      keyframes: "from { transform: translateX(0) rotate(0deg); }\nto   { transform: translateX(280px) rotate(180deg); }",
      duration: 1200, timing: "ease-in-out", count: "infinite", direction: "alternate", fill: "both"
    }
  ];

  var $ = function (id) { return document.getElementById(id); };
  var el = {
    preset: $("preset"), box: $("box"), frames: $("frames"), error: $("error"),
    duration: $("duration"), durationOut: $("duration-out"),
    delay: $("delay"), delayOut: $("delay-out"),
    timing: $("timing"), count: $("count"), direction: $("direction"), fill: $("fill"),
    restart: $("restart"), pause: $("pause"), css: $("css"),
    state: $("state"), iterations: $("iterations")
  };

  var link = document.querySelector('link[rel="stylesheet"]');
  var sheet = link && link.sheet;
  var inserted = [];      // CSSRule objects this script added
  var presets = [];
  var iterations = 0;
  var debounce = 0;

  function removeInserted() {
    inserted.forEach(function (rule) {
      for (var i = sheet.cssRules.length - 1; i >= 0; i--) {
        if (sheet.cssRules[i] === rule) { sheet.deleteRule(i); break; }
      }
    });
    inserted = [];
  }

  function insert(text) {
    var index = sheet.insertRule(text, sheet.cssRules.length);
    var rule = sheet.cssRules[index];
    inserted.push(rule);
    return rule;
  }

  function showError(message) {
    el.error.textContent = message;
    el.error.hidden = !message;
    el.frames.classList.toggle("invalid", Boolean(message));
  }

  function seconds(ms) {
    return (Number(ms) / 1000).toString() + "s";
  }

  function animationValue() {
    return ["lab-anim", seconds(el.duration.value), el.timing.value, seconds(el.delay.value),
      el.count.value, el.direction.value, el.fill.value].join(" ");
  }

  function restart() {
    el.box.classList.remove("is-animated");
    void el.box.offsetWidth;            // force a style flush so the animation starts over
    iterations = 0;
    el.iterations.textContent = "0";
    el.state.textContent = "waiting";
    el.box.classList.add("is-animated");
  }

  function apply() {
    el.durationOut.textContent = seconds(el.duration.value);
    el.delayOut.textContent = seconds(el.delay.value);
    if (!sheet) {
      showError("Stylesheet not available.");
      return;
    }
    removeInserted();
    var keyframes;
    try {
      keyframes = insert("@keyframes lab-anim {\n" + el.frames.value + "\n}");
    } catch (err) {
      showError("The browser could not parse these keyframes. Check braces and semicolons.");
      el.css.textContent = "";
      return;
    }
    var boxRule = insert(".box.is-animated { animation: " + animationValue() + "; }");

    if (keyframes.cssRules && keyframes.cssRules.length === 0) {
      showError("No valid keyframe selectors: use from, to or percentages such as 50%.");
    } else {
      showError("");
    }
    el.css.textContent = keyframes.cssText + "\n\n" + boxRule.cssText;
    restart();
  }

  function loadPreset(index) {
    var p = presets[index];
    if (!p) return;
    el.frames.value = p.keyframes;
    el.duration.value = String(p.duration);
    el.delay.value = "0";
    el.timing.value = p.timing;
    el.count.value = p.count;
    el.direction.value = p.direction;
    el.fill.value = p.fill;
    el.box.classList.remove("is-paused");
    el.pause.textContent = "Pause";
    apply();
  }

  function fillPresets(list) {
    presets = list;
    while (el.preset.firstChild) el.preset.removeChild(el.preset.firstChild);
    list.forEach(function (p, i) {
      var opt = document.createElement("option");
      opt.value = String(i);
      opt.textContent = p.name;
      el.preset.appendChild(opt);
    });
    loadPreset(0);
  }

  el.preset.addEventListener("change", function () { loadPreset(Number(el.preset.value)); });
  el.frames.addEventListener("input", function () {
    clearTimeout(debounce);
    debounce = setTimeout(apply, 300);
  });
  [el.duration, el.delay].forEach(function (input) { input.addEventListener("input", apply); });
  [el.timing, el.count, el.direction, el.fill].forEach(function (s) { s.addEventListener("change", apply); });
  $("props").addEventListener("submit", function (e) { e.preventDefault(); });
  el.restart.addEventListener("click", restart);
  el.pause.addEventListener("click", function () {
    var paused = el.box.classList.toggle("is-paused");
    el.pause.textContent = paused ? "Resume" : "Pause";
    el.state.textContent = paused ? "paused" : "running";
  });

  el.box.addEventListener("animationstart", function () { el.state.textContent = "running"; });
  el.box.addEventListener("animationiteration", function () {
    iterations += 1;
    el.iterations.textContent = String(iterations);
  });
  el.box.addEventListener("animationend", function () {
    iterations += 1;
    el.iterations.textContent = String(iterations);
    el.state.textContent = "finished";
  });

  fetch("presets.json")
    .then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.json();
    })
    .then(function (list) { fillPresets(Array.isArray(list) && list.length ? list : FALLBACK_PRESETS); })
    .catch(function () { fillPresets(FALLBACK_PRESETS); });
})();
