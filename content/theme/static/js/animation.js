/* Lottie animations rendered by partials/animation.html:
     <div class="lottie" data-lottie-src="URL" data-loop="true|false"
          data-lottie-player="URL of vendor/lottie_light.min.js">
   plus a [data-lottie-toggle] play/pause button in the same <figure>.
   lottie_light is normally loaded by a deferred <script> before this file; if
   it is missing, it is loaded from data-lottie-player (same origin, CSP-safe).
   SVG (<img>) and video animations need no script. */
(function () {
  'use strict';

  var doc = document;
  var reduceMotion = !!(window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches);
  var playerCallbacks = null;

  /* Calls done(ok) once window.lottie is available (or failed to load). */
  function withPlayer(src, done) {
    if (window.lottie && typeof window.lottie.loadAnimation === 'function') {
      done(true);
      return;
    }
    if (!src) {
      done(false);
      return;
    }
    if (playerCallbacks) {
      playerCallbacks.push(done);
      return;
    }
    playerCallbacks = [done];
    var script = doc.createElement('script');
    script.src = src;
    script.async = true;
    function finish() {
      var ok = !!(window.lottie && window.lottie.loadAnimation);
      var callbacks = playerCallbacks;
      playerCallbacks = null;
      for (var i = 0; i < callbacks.length; i++) callbacks[i](ok);
    }
    script.addEventListener('load', finish);
    script.addEventListener('error', finish);
    doc.head.appendChild(script);
  }

  function showError(el, message) {
    el.classList.add('is-loaded', 'is-failed');
    el.textContent = '';
    var p = doc.createElement('p');
    p.className = 'lottie-error';
    p.textContent = message;
    el.appendChild(p);
  }

  function initLottie(el) {
    if (el.getAttribute('data-lottie-ready')) return;
    el.setAttribute('data-lottie-ready', 'true');

    var figure = el.closest ? el.closest('figure') : null;
    var button = (figure || el.parentNode).querySelector('[data-lottie-toggle]');
    var loop = el.getAttribute('data-loop') !== 'false';
    var path = el.getAttribute('data-lottie-src');

    var anim;
    try {
      anim = window.lottie.loadAnimation({
        container: el,
        renderer: 'svg',
        loop: loop,
        autoplay: true,
        path: path,
        rendererSettings: { preserveAspectRatio: 'xMidYMid meet' }
      });
    } catch (err) {
      showError(el, 'This animation could not be played.');
      return;
    }

    var userPaused = false;   // paused with the button
    var autoPaused = false;   // paused because it scrolled out of view
    var finished = false;

    function setLabel() {
      if (!button) return;
      if (finished) button.textContent = 'Replay';
      else button.textContent = anim.isPaused ? 'Play' : 'Pause';
    }

    anim.addEventListener('DOMLoaded', function () {
      el.classList.add('is-loaded');
      var data = anim.animationData;
      if (data && data.w > 0 && data.h > 0) {
        el.style.aspectRatio = data.w + ' / ' + data.h;
      }
      if (reduceMotion) {
        anim.goToAndStop(0, true);
        userPaused = true;
      }
      if (button) {
        button.hidden = false;
        setLabel();
      }
    });

    anim.addEventListener('complete', function () {
      if (!loop) {
        finished = true;
        setLabel();
      }
    });

    anim.addEventListener('data_failed', function () {
      showError(el, 'This animation could not be loaded.');
      if (button) button.hidden = true;
    });

    if (button) {
      button.addEventListener('click', function () {
        if (finished) {
          finished = false;
          userPaused = false;
          anim.goToAndPlay(0, true);
        } else if (anim.isPaused) {
          userPaused = false;
          autoPaused = false;
          anim.play();
        } else {
          userPaused = true;
          anim.pause();
        }
        setLabel();
      });
    }

    // Save CPU: pause while off screen, resume when back (unless the user paused).
    if ('IntersectionObserver' in window) {
      var observer = new IntersectionObserver(function (entries) {
        for (var i = 0; i < entries.length; i++) {
          if (entries[i].isIntersecting) {
            if (autoPaused && !userPaused && !finished) {
              autoPaused = false;
              anim.play();
              setLabel();
            }
          } else if (!anim.isPaused) {
            autoPaused = true;
            anim.pause();
            setLabel();
          }
        }
      });
      observer.observe(el);
    }
  }

  function init() {
    var nodes = doc.querySelectorAll('[data-lottie-src]');
    if (!nodes.length) return;
    withPlayer(nodes[0].getAttribute('data-lottie-player'), function (ok) {
      for (var i = 0; i < nodes.length; i++) {
        if (ok) initLottie(nodes[i]);
        else showError(nodes[i], 'The animation player could not be loaded.');
      }
    });
  }

  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', init);
  else init();
})();
