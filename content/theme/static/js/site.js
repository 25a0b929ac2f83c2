/* Site behaviour shared by every page. No framework, no inline handlers:
   everything is bound here, and every feature checks that its elements exist. */
(function () {
  'use strict';

  var doc = document;
  doc.documentElement.classList.add('js');

  /* Collapsible panels (course outline, "On this page") are rendered open;
     they stay open on wide screens and are folded on small ones. The user's
     own toggling is kept until the viewport crosses the breakpoint. */
  function initDisclosures() {
    var panels = doc.querySelectorAll('details[data-open-wide]');
    if (!panels.length) return;
    if (!window.matchMedia) {
      for (var j = 0; j < panels.length; j++) panels[j].setAttribute('data-ready', '');
      return;
    }
    var wide = window.matchMedia('(min-width: 861px)');
    function apply() {
      for (var i = 0; i < panels.length; i++) {
        panels[i].open = wide.matches;
        panels[i].setAttribute('data-ready', '');
      }
    }
    apply();
    if (wide.addEventListener) wide.addEventListener('change', apply);
    else if (wide.addListener) wide.addListener(apply);
  }

  /* Keep the current lesson visible inside a scrollable sidebar without
     scrolling the page itself. */
  function revealCurrentLesson() {
    var sidebar = doc.querySelector('.lesson-sidebar');
    if (!sidebar) return;
    var current = sidebar.querySelector('a[aria-current="page"]');
    if (!current || sidebar.scrollHeight <= sidebar.clientHeight) return;
    var top = current.getBoundingClientRect().top - sidebar.getBoundingClientRect().top;
    if (top > sidebar.clientHeight - 60) {
      sidebar.scrollTop += top - sidebar.clientHeight / 2;
    }
  }

  /* Highlight the section being read in "On this page". */
  function initScrollSpy() {
    var links = doc.querySelectorAll('.toc-list a[href^="#"]');
    if (!links.length) return;
    var items = [];
    for (var i = 0; i < links.length; i++) {
      var id = decodeURIComponent(links[i].getAttribute('href').slice(1));
      var target = id && doc.getElementById(id);
      if (target) items.push({ link: links[i], target: target });
    }
    if (!items.length) return;

    var active = null;
    var ticking = false;

    function update() {
      ticking = false;
      var offset = window.innerHeight * 0.25 + 60;
      var found = items[0];
      for (var j = 0; j < items.length; j++) {
        if (items[j].target.getBoundingClientRect().top <= offset) found = items[j];
        else break;
      }
      // At the very bottom, the last section is the one being read.
      if (window.innerHeight + window.pageYOffset >= doc.documentElement.scrollHeight - 4) {
        found = items[items.length - 1];
      }
      if (found === active) return;
      if (active) {
        active.link.classList.remove('is-active');
        active.link.removeAttribute('aria-current');
      }
      active = found;
      active.link.classList.add('is-active');
      active.link.setAttribute('aria-current', 'location');
    }

    function onScroll() {
      if (!ticking) {
        ticking = true;
        window.requestAnimationFrame(update);
      }
    }

    window.addEventListener('scroll', onScroll, { passive: true });
    window.addEventListener('resize', onScroll);
    update();
  }

  /* "Copy" buttons on code blocks. */
  function initCopyButtons() {
    if (!navigator.clipboard || !window.isSecureContext) return;
    var blocks = doc.querySelectorAll('.prose pre');
    for (var i = 0; i < blocks.length; i++) addCopyButton(blocks[i]);
  }

  function addCopyButton(pre) {
    var source = pre.querySelector('code') || pre;
    var text = source.textContent;
    if (!text || !text.trim()) return;
    var button = doc.createElement('button');
    button.type = 'button';
    button.className = 'code-copy';
    button.textContent = 'Copy';
    button.setAttribute('aria-label', 'Copy code to clipboard');
    var timer = 0;
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(text.replace(/\n$/, '')).then(function () {
        button.textContent = 'Copied';
        button.classList.add('is-done');
      }, function () {
        button.textContent = 'Press Ctrl+C';
      }).then(function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          button.textContent = 'Copy';
          button.classList.remove('is-done');
        }, 1800);
      });
    });
    pre.appendChild(button);
  }

  function init() {
    initDisclosures();
    revealCurrentLesson();
    initScrollSpy();
    initCopyButtons();
  }

  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', init);
  else init();
})();
