#!/usr/bin/env python3
"""Helpers of bench/authoring.sh (Python 3 standard library only).

    helper.py lessons CONTENT HUGO EDITS            the lessons to edit, then the theme lesson
    helper.py free-port
    helper.py wait-http URL SECONDS                 until URL answers 200
    helper.py rss PID                               VmRSS of PID and its descendants, KiB
    helper.py session TOOL BASE PLAN RESULTS PIDFILE DRIVER_DIR SERVER_PID
    helper.py report RESULTS key=value...

`lessons` prints EDITS lessons (`<course>/<lesson>`) spread evenly over the sorted list (so
over the courses), then one more for the theme edits, after checking that the Hugo site
carries the same lesson files (content/<course>/<lesson>.md).

`session` drives tests/browser/live-session.mjs (chromium through playwright-core) on the
server at BASE: for each lesson of PLAN (a JSON file written by authoring.sh) it puts one
tab on that lesson's page, waits until the page's live-reload channel can be up, rewrites
the lesson file with a unique sentence appended, and takes the driver's time from just
before the write to the page's next `load`; then it checks that the reloaded page carries
the sentence. Then the theme edits, the same way on one open lesson page (each puts a new
marker element into the lesson template). One line per edit is appended to RESULTS:
    tool kind seq lesson ms ok has_edit nav_load_ms nav_ttfb_ms server_rss_kb
(nav_*: the reloaded page's Navigation Timing; the server's RSS, with its children, just
after the edit)
and a final `summary` line with the tab's reload count and the problems chromium saw.
The driver's PID is written to PIDFILE (authoring.sh kills it and its chromium on exit).
"""

import json
import math
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from statistics import median


def die(msg):
    print(f"helper.py: {msg}", file=sys.stderr)
    sys.exit(1)


def log(msg):
    print(f"[authoring-bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- small commands


def cmd_lessons(content, hugo, edits):
    content, hugo, edits = Path(content), Path(hugo), int(edits)
    lessons = sorted(
        f"{p.parent.name}/{p.stem}" for p in (content / "courses").glob("*/*.md") if p.is_file()
    )
    if len(lessons) < edits + 1:
        die(f"{len(lessons)} lessons under {content}/courses: fewer than {edits} edits + 1")
    missing = [rel for rel in lessons if not (hugo / "content" / f"{rel}.md").is_file()]
    if missing:
        die(f"{len(missing)} lesson(s) missing from the Hugo site, e.g. {missing[0]}")
    n = len(lessons)
    picked = [lessons[(2 * k + 1) * n // (2 * edits)] for k in range(edits)]
    # The theme lesson: the first one not edited.
    theme = next(rel for rel in lessons if rel not in picked)
    print("\n".join(picked + [theme]))


def cmd_free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def cmd_wait_http(url, seconds):
    deadline = time.monotonic() + float(seconds)
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
                last = f"status {r.status}"
        except Exception as e:  # noqa: BLE001 - anything means "not yet"
            last = str(e)
        time.sleep(0.1)
    die(f"{url} did not answer 200 within {seconds} s ({last})")


def descendants(pid):
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        rest = text[text.rindex(")") + 2 :].split()
        children.setdefault(int(rest[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def vmrss_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmd_rss(pid):
    pids = descendants(int(pid))
    print(sum(vmrss_kb(p) for p in pids), len(pids))


# ---------------------------------------------------------------------------- session


class Driver:
    """live-session.mjs: one JSON command per line, one JSON answer per line."""

    def __init__(self, base, driver_dir, pidfile):
        self.stderr = open(Path(pidfile).with_suffix(".driver.err"), "w")
        self.proc = subprocess.Popen(
            ["node", "live-session.mjs", base],
            cwd=driver_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            start_new_session=True,
        )
        self.pidfile = Path(pidfile)
        self.pidfile.write_text(f"{self.proc.pid}\n")
        self.answers = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.answers.put(line)
        self.answers.put(None)

    def send(self, command, timeout):
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        try:
            line = self.answers.get(timeout=timeout)
        except queue.Empty:
            die(f"the browser driver gave no answer to {command['cmd']} within {timeout:.0f} s")
        if line is None:
            die(f"the browser driver exited (status {self.proc.poll()}); see {self.stderr.name}")
        answer = json.loads(line)
        if "error" in answer:
            die(f"the browser driver failed {command['cmd']}: {answer['error']}")
        return answer

    def close(self):
        # Chromium runs in its own process group: note the whole tree before closing.
        tree = [p for p in descendants(self.proc.pid) if p != self.proc.pid]
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "close"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                pass
        if self.proc.poll() is None:
            # Its chromium is its child: TERM lets playwright close it.
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                    self.proc.wait(timeout=10)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
        for pid in tree:  # whatever of its chromium outlived it
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.pidfile.unlink(missing_ok=True)


# Whether the page's own live-reload channel is connected, where the page lets us see it.
# Hugo's livereload.js: its connector after the protocol handshake. Ours keeps its
# EventSource in a closure; it needs no readiness wait for correctness (a page that
# connects after a swap is told to reload, from the release id it was served with).
READY = {
    "ours": "true",
    "hugo": "!!(window.LiveReload && LiveReload.connector && LiveReload.connector.protocol > 0"
    " && LiveReload.connector._isSocketConnected())",
}


ARTICLE_CHARS = "(document.querySelector('article') || { textContent: '' }).textContent.trim().length"
NAV_TIMING = (
    "(() => { const n = performance.getEntriesByType('navigation')[0];"
    " return n ? { type: n.type, ttfb: n.responseStart, load: n.loadEventStart } : null; })()"
)


def page_path(tool, rel):
    return f"/courses/{rel}/" if tool == "ours" else f"/{rel}.html"


def cmd_session(tool, base, plan_file, results, pidfile, driver_dir, server_pid):
    plan = json.loads(Path(plan_file).read_text())
    reload_s = float(plan["reload_timeout_s"])
    settle_ms = int(plan["settle_ms"])
    gap_s = float(plan["gap_ms"]) / 1000
    driver = Driver(base, driver_dir, pidfile)
    out = open(results, "a")

    def record(kind, seq, rel, ms, ok, has_edit, nav):
        out.write(f"{tool}\t{kind}\t{seq}\t{rel}\t{ms:.1f}\t{int(ok)}\t{int(has_edit)}\t"
                  f"{nav.get('load', -1):.1f}\t{nav.get('ttfb', -1):.1f}\t"
                  f"{sum(vmrss_kb(p) for p in descendants(int(server_pid)))}\n")
        out.flush()

    def ready_wait(path):
        expr = (
            f"location.pathname === {json.dumps(path)} && document.readyState === 'complete' && "
            f"({READY[tool]})"
        )
        a = driver.send({"cmd": "wait", "page": "p", "expr": expr, "timeout_ms": 20000}, 40)
        if not a["ok"]:
            die(f"{tool}: {path} did not load with its live reload connected within 20 s")
        # The same pause for both: the page's scripts settle, its event stream connects.
        driver.send({"cmd": "wait", "page": "p", "expr": "false", "timeout_ms": settle_ms}, 30)

    navigations = 0
    opened = False

    def go(path):
        nonlocal opened, navigations
        if not opened:
            a = driver.send({"cmd": "open", "page": "p", "path": path}, 60)
            if a.get("status") != 200:
                die(f"{tool}: {path} answered {a.get('status')}")
            opened = True
        else:
            driver.send(
                {"cmd": "eval", "page": "p", "expr": f"setTimeout(() => location.assign({json.dumps(path)}), 0), true"},
                30,
            )
            navigations += 1
        ready_wait(path)

    def edit(kind, seq, rel, path, file, text, check):
        if not opened or driver.send({"cmd": "eval", "page": "p", "expr": "location.pathname"}, 30)["value"] != path:
            go(path)
        a = driver.send(
            {"cmd": "write", "page": "p", "file": file, "text": text, "timeout_ms": int(reload_s * 1000)},
            reload_s + 30,
        )
        has_edit, nav = False, {}
        if a["ok"]:
            # The reloaded page (its load event has fired) must show the edit.
            has_edit = bool(driver.send({"cmd": "eval", "page": "p", "expr": check}, 30)["value"])
            # Its own navigation, from the reload's start: to the first byte, to `load`.
            nav = driver.send({"cmd": "eval", "page": "p", "expr": NAV_TIMING}, 30)["value"] or {}
            if not has_edit:
                # A reload that came too early: does another bring the edit?
                late = driver.send({"cmd": "wait", "page": "p", "expr": check, "timeout_ms": 10000}, 40)
                # What the page showed instead: its article's length (0: an empty lesson).
                shown = driver.send({"cmd": "eval", "page": "p", "expr": ARTICLE_CHARS}, 30)["value"]
                what = (f"{kind} edit {seq} ({rel}): reloaded after {a['ms']:.0f} ms without the edit "
                        f"(article {shown} chars, the file {len(text)} chars); "
                        + (f"a later reload brought it {late['ms']} ms after" if late["ok"] else "still without it 10 s later"))
                failures.append(what)
                log(f"{tool} {what}")
        else:
            failures.append(f"{kind} edit {seq} ({rel}): no reload within {reload_s:.0f} s of the write")
            log(f"{tool} {failures[-1]}")
        record(kind, seq, rel, a["ms"], a["ok"], has_edit, nav)
        log(f"  {tool} {kind} {seq}/{plan['n_' + kind]}: {a['ms']:.0f} ms{'' if a['ok'] and has_edit else ' (FAILED)'}  {rel}")
        time.sleep(gap_s)
        return a["ok"]

    reloads_expected = 0
    failures = []
    try:
        # 1. lesson edits: a different lesson each, its own page open.
        root = Path(plan["trees"][tool])
        for seq, rel in enumerate(plan["lessons"], 1):
            file = root / plan["lesson_file"][tool].format(rel=rel)
            needle = f"Authoring bench edit {seq} appended this sentence to {rel.split('/')[1]}."
            text = file.read_text() + f"\n\n{needle}\n"
            check = f"document.body.textContent.includes({json.dumps(needle)})"
            reloads_expected += edit("lesson", seq, rel, page_path(tool, rel), str(file), text, check)

        # 2. theme edits: the lesson template, one lesson page open.
        template = root / plan["template"][tool]
        original = template.read_text()
        anchor = plan["template_anchor"][tool]
        if anchor not in original:
            die(f"{template} has no {anchor!r} to put the edit before")
        rel = plan["theme_lesson"]
        for seq in range(1, plan["n_theme"] + 1):
            marker = f'<p class="bench-theme-mark">Theme edit {seq}</p>\n'
            text = original.replace(anchor, marker + anchor, 1)
            check = (f"(document.querySelector('.bench-theme-mark') || {{}}).textContent === "
                     f"{json.dumps(f'Theme edit {seq}')}")
            reloads_expected += edit("theme", seq, rel, page_path(tool, rel), str(template), text, check)

        # Loads after the first are navigations and edit reloads; more means extra reloads.
        time.sleep(1)
        reloads = driver.send({"cmd": "reloads", "page": "p"}, 30)["value"]
        problems = driver.send({"cmd": "problems", "page": "p"}, 30)["value"]
        extra = reloads - navigations - reloads_expected
        summary = {"reloads": reloads, "navigations": navigations, "extra_reloads": extra, "problems": problems,
                   "failures": failures}
        out.write(f"{tool}\tsummary\t0\t-\t0\t1\t1\t{json.dumps(summary)}\n")
        if extra:
            log(f"{tool}: {extra} reload(s) more than the edits made")
        if problems:
            log(f"{tool}: chromium reported {len(problems)} problem(s), e.g. {problems[0]}")
    finally:
        out.close()
        driver.close()


# ---------------------------------------------------------------------------- report

DURATION_RE = re.compile(r"([0-9.]+)(ns|µs|us|ms|s)\b")
UNIT_MS = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1000.0}
OURS_LINE = re.compile(r"^(.+) changed: rebuilt in (\S+), (\d+) page\(s\) rendered, release (\S+)$")
HUGO_TOTAL = re.compile(r"^Total in ([0-9.]+) ms")
HUGO_SOURCE = re.compile(r'^Source changed .*"(.+)"$|^Template changed .*"(.+)"$')


def parse_duration_ms(text):
    m = DURATION_RE.fullmatch(text.strip())
    return float(m.group(1)) * UNIT_MS[m.group(2)] if m else None


def our_rebuilds(path):
    """Each rebuild `course serve` printed: (changed, ms, pages rendered)."""
    out = []
    for line in Path(path).read_text(errors="replace").splitlines():
        m = OURS_LINE.match(line.strip())
        if m:
            out.append((m.group(1), parse_duration_ms(m.group(2)), int(m.group(3))))
    return out


def hugo_rebuilds(path):
    """Each rebuild `hugo server` printed: (changed, ms); the first Total is the start."""
    out, changed = [], None
    lines = Path(path).read_text(errors="replace").splitlines()
    for line in lines:
        s = HUGO_SOURCE.match(line.strip())
        if s:
            changed = s.group(1) or s.group(2)
        t = HUGO_TOTAL.match(line.strip())
        if t and changed is not None:
            out.append((changed, float(t.group(1))))
            changed = None
    return out


def pct(xs, p):
    """Nearest-rank percentile (p95 of 20 samples is the 19th smallest)."""
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def fmt_ms(ms):
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 100_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 1000:.0f} s"


def fmt_ratio(x, suffix="×"):
    if x is None:
        return "—"
    return f"{x:.2f}{suffix}" if x < 10 else f"{x:.0f}{suffix}"


def fmt_mib(kb):
    return "—" if not kb else f"{kb / 1024:,.0f} MiB"


def cmd_report(results, facts):
    facts = dict(kv.split("=", 1) for kv in facts)
    rows, summaries = [], {}
    for line in Path(results).read_text().splitlines():
        f = line.split("\t")
        if len(f) >= 8 and f[1] == "summary":
            summaries[f[0]] = json.loads(f[7])
        elif len(f) == 10:
            rows.append(dict(tool=f[0], kind=f[1], seq=int(f[2]), lesson=f[3], ms=float(f[4]),
                             ok=f[5] == "1", has=f[6] == "1", nav=float(f[7]), ttfb=float(f[8]),
                             rss=int(f[9])))
    tools = ("ours", "hugo")

    def good(tool, kind):
        return [r["ms"] for r in rows if r["tool"] == tool and r["kind"] == kind and r["ok"] and r["has"]]

    def count(tool, kind):
        sel = [r for r in rows if r["tool"] == tool and r["kind"] == kind]
        return len([r for r in sel if r["ok"] and r["has"]]), len(sel)

    lat = {(t, k, p): pct(good(t, k), p) for t in tools for k in ("lesson", "theme") for p in (50, 95)}

    def split(tool, kind):
        """Medians of (write -> reload started, reload navigation -> load) over good edits."""
        sel = [r for r in rows if r["tool"] == tool and r["kind"] == kind and r["ok"] and r["has"] and r["nav"] >= 0]
        if not sel:
            return None, None
        return median(r["ms"] - r["nav"] for r in sel), median(r["nav"] for r in sel)

    def faster(k, p):
        a, b = lat[("ours", k, p)], lat[("hugo", k, p)]
        if not (a and b):
            return "—"
        return fmt_ratio(b / a, "× faster") if b >= a else fmt_ratio(a / b, "× slower")

    ours_rb = our_rebuilds(facts["ours_out"])
    facts["ours_durations"] = " ".join(
        m.group(2) for m in (OURS_LINE.match(l.strip()) for l in Path(facts["ours_out"]).read_text(errors="replace").splitlines()) if m
    )
    hugo_rb = hugo_rebuilds(facts["hugo_out"])
    ours_lesson_rb = [ms for f, ms, _ in ours_rb if f.startswith("courses/") and ms is not None]
    ours_theme_rb = [ms for f, ms, _ in ours_rb if f.startswith("theme/") and ms is not None]
    ours_lesson_pages = sorted({n for f, _, n in ours_rb if f.startswith("courses/")})
    ours_theme_pages = sorted({n for f, _, n in ours_rb if f.startswith("theme/")})
    hugo_lesson_rb = [ms for f, ms in hugo_rb if "/content/" in f]
    hugo_theme_rb = [ms for f, ms in hugo_rb if "/layouts/" in f]
    n_lesson, n_theme = int(facts["edits"]), int(facts["theme_edits"])

    quick = facts["size"] == "quick"
    note = " (set for full)" if quick else ""

    def verdict(ok):
        return "**met**" if ok else "**not met**"

    p95o, p95h = lat[("ours", "lesson", 95)], lat[("hugo", "lesson", 95)]
    all_ok = count("ours", "lesson")[0] == n_lesson
    t_abs = verdict(p95o is not None and p95o < 200 and all_ok)
    t_rel = verdict(p95o is not None and p95h is not None and p95o < p95h and all_ok)

    def pages_text(ns):
        if not ns:
            return "?"
        return f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"

    def rss_text(t):
        lesson = [r["rss"] for r in rows if r["tool"] == t and r["kind"] == "lesson"]
        steps = f"at start {fmt_mib(int(facts[t + '_rss_start']))}"
        if len(lesson) >= 2:
            per_edit = (lesson[-1] - lesson[0]) / (len(lesson) - 1) / 1024
            steps += (f", after lesson edit 1 {fmt_mib(lesson[0])}, after edit {len(lesson)} "
                      f"{fmt_mib(lesson[-1])}: {per_edit:+.1f} MiB per edit; then the theme edits")
        return f"{fmt_mib(int(facts[t + '_rss_end']))} ({steps})"

    rss_ratio = None
    if int(facts["hugo_rss_end"]):
        rss_ratio = int(facts["ours_rss_end"]) / int(facts["hugo_rss_end"])

    w = []
    a = w.append
    a(f"## Authoring benchmark: `course serve` vs `hugo server`, live reload ({facts['size']} catalogue)")
    a("")
    a(f"{facts['date']} · `{facts['command']}` · {n_lesson} lesson edits and {n_theme} theme edits "
      "per server, one server at a time (ours first)")
    a("")
    a(f"- **Machine**: {facts['nproc']} CPUs ({facts['cpu']}), {facts['mem']} RAM; CPUs {facts['busy']} "
      f"busy just before the run (others may be building), load average {facts['load0']} at the start, "
      f"{facts['load1']} at the end; the trees are on {facts['fs']}; chromium shares the CPUs with "
      "the server")
    a(f"- **Tools**: ours `course` at {facts['rev']} (release build); {facts['hugo']}; "
      f"{facts['chromium']} (headless, playwright-core {facts['playwright']})")
    a(f"- **Content**: `course generate --size {facts['size']} --seed {facts['seed']} --hugo`: "
      f"{facts['generated']}; Hugo gets the same {int(facts['lessons']):,} lessons")
    a("- **Servers**: ours `course serve --content C --out STORE --listen 127.0.0.1:0` (watches C, "
      "rebuilds in process, live reload over SSE); Hugo `hugo server -s SITE --bind 127.0.0.1 "
      "--port P --cacheDir DIR`, i.e. its defaults: renders to memory, watches, live reload over "
      "its WebSocket, and **Fast Render Mode on** (no `--disableFastRender`): after a change "
      "it re-renders only the pages open in a browser first, which is what `hugo server` does "
      "unless told otherwise and so what its authors see")
    a("- **Measured**: one chromium tab. For each edit the tab is put on the page (and, for "
      "Hugo, until its livereload.js is connected), then "
      f"{facts['settle_ms']} ms of quiet; the driver (`tests/browser/live-session.mjs`) rewrites "
      "the file and times from just before the write to the tab's next `load` event, then "
      "checks the reloaded page shows the edit (else the edit counts as failed). Lesson edit: "
      "the lesson's own page open, one sentence appended to its .md, a different lesson each "
      "time, spread over the courses. Theme edit: one lesson page open, a new marker element "
      "put into the lesson template (ours `theme/templates/lesson.html`, every lesson page "
      "changes; Hugo `layouts/_default/single.html`). "
      f"{facts['gap_ms']} ms pause after each edit. p95 is nearest-rank (the 19th of 20). "
      "RSS: VmRSS of the server process and its children (/proc), right after it was ready "
      "and after all the edits")
    a("")
    a(f"| | ours (`course serve`) | Hugo (`hugo server`) | ours vs Hugo | target{note} |")
    a("|---|---:|---:|---:|---|")
    co, ch = count("ours", "lesson"), count("hugo", "lesson")
    a(f"| 1. lesson edit → reloaded page, p50 | {fmt_ms(lat[('ours', 'lesson', 50)])} | "
      f"{fmt_ms(lat[('hugo', 'lesson', 50)])} | {faster('lesson', 50)} | |")
    a(f"| 1. lesson edit → reloaded page, p95 | {fmt_ms(p95o)} | {fmt_ms(p95h)} | {faster('lesson', 95)} | "
      f"< 200 ms: {t_abs}; faster than Hugo: {t_rel} |")
    a(f"| 1. lesson edits reloaded with the edit shown | {co[0]} of {co[1]} | {ch[0]} of {ch[1]} | | all |")
    trig = {t: split(t, "lesson") for t in tools}
    a(f"| 1. of which: write → reload starts (watch, rebuild, notify), median | {fmt_ms(trig['ours'][0])} | "
      f"{fmt_ms(trig['hugo'][0])} | | |")
    a(f"| 1. of which: the reload itself (navigation start → `load`), median | {fmt_ms(trig['ours'][1])} | "
      f"{fmt_ms(trig['hugo'][1])} | | |")
    to, th = count("ours", "theme"), count("hugo", "theme")
    a(f"| 2. theme template edit → reloaded page, p50 | {fmt_ms(lat[('ours', 'theme', 50)])} | "
      f"{fmt_ms(lat[('hugo', 'theme', 50)])} | {faster('theme', 50)} | |")
    a(f"| 2. theme template edit → reloaded page, p95 | {fmt_ms(lat[('ours', 'theme', 95)])} | "
      f"{fmt_ms(lat[('hugo', 'theme', 95)])} | {faster('theme', 95)} | |")
    a(f"| 2. theme edits reloaded with the edit shown | {to[0]} of {to[1]} | {th[0]} of {th[1]} | | all |")
    a(f"| 3. RSS of the server after the edits | {rss_text('ours')} | {rss_text('hugo')} | "
      f"{fmt_ratio(rss_ratio)} | |")
    a(f"| 4. rebuild time the server printed, lesson edits (median) | "
      f"{fmt_ms(median(ours_lesson_rb) if ours_lesson_rb else None)} ({pages_text(ours_lesson_pages)} "
      f"page(s) rendered; {len(ours_lesson_rb)} rebuilds for {n_lesson} edits) | "
      f"{fmt_ms(median(hugo_lesson_rb) if hugo_lesson_rb else None)} (its `Total in`; "
      f"{len(hugo_lesson_rb)} rebuilds) | | |")
    a(f"| 4. rebuild time the server printed, theme edits (median) | "
      f"{fmt_ms(median(ours_theme_rb) if ours_theme_rb else None)} ({pages_text(ours_theme_pages)} "
      f"page(s) rendered; {len(ours_theme_rb)} rebuilds) | "
      f"{fmt_ms(median(hugo_theme_rb) if hugo_theme_rb else None)} ({len(hugo_theme_rb)} rebuilds) | | |")
    a(f"| 5. server start until ready (initial build) | {fmt_ms(float(facts['ours_start_ms']))} | "
      f"{fmt_ms(float(facts['hugo_start_ms']))} | | |")
    a("")
    a("Ratios: rows 1-2 Hugo's time ÷ ours; row 3 our RSS ÷ Hugo's (lower is better for us). "
      "Ours prints its rebuild time from when the watcher hands over the change (after its "
      "20 ms quiet period) to the new release being built and swapped into its origin; the end-to-end "
      "time adds the file watcher, the event to the page, and the page's reload.")
    a("")
    if any(re.fullmatch(r"\d+s", d) for d in facts.get("ours_durations", "").split()):
        a("Our rebuild lines print whole seconds once a rebuild takes a second or more "
          "(`{:.0?}`): row 4's theme figure is rounded so.")
        a("")
    a("Rows \"of which\": the reloaded page's Navigation Timing (`loadEventStart`, from the "
      "start of the reload it was told to do) splits each end-to-end time in two.")
    a("")
    if p95o is not None and not (p95o < 200 and all_ok):
        a(f"**Target missed**: our lesson-edit p95 is {fmt_ms(p95o)}, not under 200 ms"
          f"{'' if all_ok else ', and not every edit reloaded with the edit shown'}"
          f"{' (the target is set for the full catalogue)' if quick else ''}. Where the time goes:")
        a("")
    if ours_lesson_rb and trig["ours"][0] is not None:
        a(f"Ours, lesson edits: from the write to the reload starting {fmt_ms(trig['ours'][0])} (median), "
          f"of which the printed rebuild {fmt_ms(median(ours_lesson_rb))}; the rest "
          f"(~{fmt_ms(trig['ours'][0] - median(ours_lesson_rb))}) is the watcher (notify and its 20 ms quiet "
          "period) and the event to the page (the printed rebuild includes the swap into the origin); then the "
          f"reload itself {fmt_ms(trig['ours'][1])} (TTFB median "
          f"{fmt_ms(median(r['ttfb'] for r in rows if r['tool'] == 'ours' and r['kind'] == 'lesson' and r['ttfb'] >= 0))}).")
        a("")
    for t in tools:
        s = summaries.get(t)
        if s is None:
            continue
        probs = s["problems"]
        # A reload cuts the media the page was still fetching: chromium counts it failed.
        aborted = [p for p in probs if p.startswith("request failed:") and p.endswith("net::ERR_ABORTED")]
        other = [p for p in probs if p not in aborted]
        shown = "; ".join(sorted(set(other))[:3]) if other else "none"
        a(f"{'Ours' if t == 'ours' else 'Hugo'}: {s['reloads']} loads of the tab after the first "
          f"({s['navigations']} navigations, {s['extra_reloads']} more than the edits made); "
          f"chromium saw {len(aborted)} requests aborted by a reload (media still loading) and "
          f"{len(other)} other problem(s): {shown}.")
        for failure in s.get("failures", []):
            a(f"- failed: {failure}")
    a("")

    def samples(t, k):
        return " ".join(f"{r['ms']:.0f}{'' if r['ok'] and r['has'] else '!'}"
                        for r in rows if r["tool"] == t and r["kind"] == k) or "—"

    a("Samples (ms, ! = failed): lesson edits: ours " + samples("ours", "lesson") + "; Hugo "
      + samples("hugo", "lesson") + " · theme edits: ours " + samples("ours", "theme") + "; Hugo "
      + samples("hugo", "theme") + " · printed rebuilds: ours "
      + " ".join(f"{ms:.0f}" for ms in ours_lesson_rb) + " / theme "
      + " ".join(f"{ms:.0f}" for ms in ours_theme_rb) + "; Hugo "
      + " ".join(f"{ms:.0f}" for ms in hugo_lesson_rb) + " / theme "
      + " ".join(f"{ms:.0f}" for ms in hugo_theme_rb) + ".")
    print("\n".join(w))


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = sys.argv[1:]
    if not args:
        die("usage: see the module docstring")
    cmd, rest = args[0], args[1:]
    table = {
        "lessons": (cmd_lessons, 3),
        "free-port": (cmd_free_port, 0),
        "wait-http": (cmd_wait_http, 2),
        "rss": (cmd_rss, 1),
        "session": (cmd_session, 7),
    }
    if cmd == "report":
        if not rest:
            die("report RESULTS key=value...")
        cmd_report(rest[0], rest[1:])
        return
    if cmd not in table or len(rest) != table[cmd][1]:
        die(f"unknown command or wrong arguments: {' '.join(args)}")
    table[cmd][0](*rest)


if __name__ == "__main__":
    main()
