#!/usr/bin/env python3
"""Helpers of bench/build.sh (Python 3 standard library only).

    helper.py lessons CONTENT HUGO BOOK
    helper.py check-ours STORE LESSONS [--needle REL TEXT]
    helper.py check-peer OUT LESSONS [--needle REL TEXT]
    helper.py report RESULTS key=value...

`lessons` prints every lesson of the catalogue as `<course>/<lesson>` (sorted), after
checking that the Hugo site (content/<course>/<lesson>.md) and the mdBook
(src/<course>/<lesson>.md) carry the same lesson files. `check-ours` reads the store's live
release and `check-peer` a Hugo or mdBook output tree (<course>/<lesson>.html): both
print "<lesson pages found> <all pages>" and exit 1 when a lesson page is missing or, with
--needle, when that lesson's page lacks TEXT (the sentence an edit appended). `report`
prints the markdown table from the results file bench/build.sh writes, one line per
timed run:
    round tool kind seq lesson wall_ms rss_kb pages rendered output-file
"""

import argparse
import json
import re
import sys
from pathlib import Path
from statistics import median

TOOLS = ("ours", "hugo", "mdbook")
NAMES = {"ours": "ours (`course build`)", "hugo": "Hugo", "mdbook": "mdBook"}
PHASE_RE = re.compile(r"^\s+([0-9.]+) ms  (.+)$")


def die(msg):
    print(f"helper.py: {msg}", file=sys.stderr)
    sys.exit(1)


def cmd_lessons(args):
    content, hugo, book = Path(args.content), Path(args.hugo), Path(args.book)
    lessons = sorted(
        f"{p.parent.name}/{p.stem}" for p in (content / "courses").glob("*/*.md") if p.is_file()
    )
    if not lessons:
        die(f"no lessons under {content}/courses")
    missing = [
        str(peer)
        for rel in lessons
        for peer in (hugo / "content" / f"{rel}.md", book / "src" / f"{rel}.md")
        if not peer.is_file()
    ]
    if missing:
        die(f"{len(missing)} lesson(s) missing from the peers, e.g. {missing[0]}")
    print("\n".join(lessons))


def read_lessons(path):
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def check_needle(page, needle, where):
    if needle is None:
        return
    rel, text = needle
    body = page(rel)
    if body is None:
        die(f"{where}: no page for the edited lesson {rel}")
    if text.encode() not in body:
        die(f"{where}: the page of {rel} does not contain the edit {text!r}")


def cmd_check_ours(args):
    store = Path(args.store)
    live = json.loads((store / "channels" / "live.json").read_text())
    manifest = json.loads((store / "releases" / f"{live['release']}.json").read_text())
    routes = manifest["routes"]
    html = [r for r, e in routes.items() if e.get("type", "").startswith("text/html")]
    lessons = read_lessons(args.lessons)
    found = sum(1 for rel in lessons if f"/courses/{rel}/" in routes)
    if found != len(lessons):
        die(f"{store}: {len(lessons) - found} of {len(lessons)} lesson pages missing from the live release")

    def page(rel):
        entry = routes.get(f"/courses/{rel}/")
        return None if entry is None else (store / "objects" / entry["object"]).read_bytes()

    check_needle(page, args.needle, str(store))
    print(found, len(html))


def cmd_check_peer(args):
    out = Path(args.out)
    lessons = read_lessons(args.lessons)
    found = sum(1 for rel in lessons if (out / f"{rel}.html").is_file())
    if found != len(lessons):
        die(f"{out}: {len(lessons) - found} of {len(lessons)} lesson pages missing")

    def page(rel):
        path = out / f"{rel}.html"
        return path.read_bytes() if path.is_file() else None

    check_needle(page, args.needle, str(out))
    print(found, sum(1 for _ in out.rglob("*.html")))


# ---------------------------------------------------------------------------- report


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


def fmt_int(n):
    return f"{n:,}"


def phases(path):
    out = {}
    try:
        for line in Path(path).read_text().splitlines():
            m = PHASE_RE.match(line)
            if m:
                out[m.group(2)] = float(m.group(1))
    except OSError:
        pass
    return out


def median_phases(paths):
    runs = [phases(p) for p in paths]
    runs = [r for r in runs if r]
    if not runs:
        return ""
    names = list(runs[0])
    return " · ".join(f"{n} {median(r.get(n, 0.0) for r in runs):.0f}" for n in names)


def cmd_report(args):
    facts = dict(kv.split("=", 1) for kv in args.facts)
    rows = []
    for line in Path(args.results).read_text().splitlines():
        f = line.split("\t")
        if len(f) != 10:
            continue
        rows.append(
            dict(
                round=int(f[0]), tool=f[1], kind=f[2], seq=int(f[3]), lesson=f[4], ms=float(f[5]),
                rss=int(f[6]), pages=f[7], rendered=f[8], out=f[9],
            )
        )

    def sel(tool, kind):
        return [r for r in rows if r["tool"] == tool and r["kind"] == kind]

    def med(tool, kind, key="ms"):
        xs = [r[key] for r in sel(tool, kind)]
        return median(xs) if xs else None

    lessons = int(facts["lessons"])
    cold = {t: med(t, "cold") for t in TOOLS}
    warm = {t: med(t, "edit") for t in TOOLS}
    rss = {t: med(t, "cold", "rss") for t in TOOLS}
    unchanged = med("ours", "unchanged")
    pps = {t: (lessons / (cold[t] / 1000) if cold[t] else None) for t in TOOLS}

    def over(a, b):
        return a / b if a is not None and b else None

    # Our page counts: "built N pages (M rendered)"; the same every run of a kind.
    ours_pages = next((r["pages"] for r in sel("ours", "cold")), "?")
    warm_rendered = [int(r["rendered"]) for r in sel("ours", "edit")]
    unchanged_rendered = [int(r["rendered"]) for r in sel("ours", "unchanged")]

    def rendered_text(xs):
        if not xs:
            return "—"
        lo, hi = min(xs), max(xs)
        n = f"{lo}" if lo == hi else f"{lo}-{hi}"
        return f"{n} of {fmt_int(int(ours_pages))} pages" if ours_pages.isdigit() else n

    quick = facts["size"] == "quick"
    target_note = " (set for full)" if quick else ""

    def verdict(ok):
        return "**met**" if ok else "**not met**"

    ratio_cold_hugo = over(pps["ours"], pps["hugo"])
    ratio_cold_mdbook = over(pps["ours"], pps["mdbook"])
    cold_target = f"≥ 2.0× Hugo: {verdict(ratio_cold_hugo is not None and ratio_cold_hugo >= 2.0)}"
    warm_target = f"< 150 ms: {verdict(warm['ours'] is not None and warm['ours'] < 150)}"

    rounds, edits, peer_edits = int(facts["rounds"]), int(facts["edits"]), int(facts["peer_edits"])
    n_warm = {t: len(sel(t, "edit")) for t in TOOLS}
    peer_html = {t: next((r["rendered"] for r in sel(t, "cold")), "?") for t in ("hugo", "mdbook")}

    out = []
    w = out.append
    w(f"## Build benchmark: `course build` vs Hugo vs mdBook ({facts['size']} catalogue)")
    w("")
    w(f"{facts['date']} · `{facts['command']}` · {rounds} round(s) · {edits} edit(s) per round "
      f"for ours, {peer_edits} for Hugo and mdBook")
    w("")
    w(f"- **Machine**: {facts['nproc']} CPUs ({facts['cpu']}), {facts['mem']} RAM; "
      f"CPUs {facts['busy']} busy just before the run (others may be building), "
      f"load average {facts['load0']} at the start, {facts['load1']} at the end; "
      f"every tool reads and writes on {facts.get('fs', 'the same file system')}")
    w(f"- **Tools**: ours `course` at {facts['rev']} (release build); {facts['hugo']}; {facts['mdbook']}")
    w(f"- **Content**: `course generate --size {facts['size']} --seed {facts['seed']}` "
      f"({facts['gen_s']} s): {facts['generated']}; Hugo and mdBook get the same {fmt_int(lessons)} "
      "lessons (`--hugo`, `--mdbook`)")
    w(f"- **Pages = lesson pages**: {fmt_int(lessons)} for every tool, each checked present in "
      f"every output (and, after an edit, carrying the appended sentence). For the record, ours "
      f"built {fmt_int(int(ours_pages)) if ours_pages.isdigit() else ours_pages} pages in all (lessons + course, index and error pages) plus assets; "
      f"Hugo wrote {peer_html['hugo']} .html files, mdBook {peer_html['mdbook']}.")
    w("- **Commands**: ours `course build --content C --out STORE --timings`; "
      "Hugo `hugo --quiet -s SITE -d OUT --cacheDir CACHE`; mdBook `mdbook build BOOK -d OUT`. "
      "Cold = empty output dir (and, for ours, no STORE/.build-cache; for Hugo, an empty cache "
      "dir); warm = the same output dir again after appending one sentence to one lesson in "
      "each tool's tree (a different lesson each edit). Times are the wall clock of the whole "
      "process, medians over rounds (and edits); RSS is its peak resident set "
      "(`/usr/bin/time -f %M`). The order of the tools rotates each round; the OS page cache "
      "is warm for all (the trees were just generated).")
    w("")
    w(f"| | {NAMES['ours']} | Hugo | mdBook | ours vs Hugo | ours vs mdBook | target{target_note} |")
    w("|---|---:|---:|---:|---:|---:|---|")
    w(f"| 1. cold full build: wall time | {fmt_ms(cold['ours'])} | {fmt_ms(cold['hugo'])} | "
      f"{fmt_ms(cold['mdbook'])} | | | |")

    def fmt_pps(x):
        return "—" if x is None else f"{x:,.0f}"

    w(f"| 1. cold full build: lesson pages/s | {fmt_pps(pps['ours'])} | {fmt_pps(pps['hugo'])} | "
      f"{fmt_pps(pps['mdbook'])} | {fmt_ratio(ratio_cold_hugo)} | {fmt_ratio(ratio_cold_mdbook)} "
      f"| {cold_target} |")
    w(f"| 2. warm rebuild, one lesson edited: wall time (median of {n_warm['ours']} / "
      f"{n_warm['hugo']} / {n_warm['mdbook']}) | {fmt_ms(warm['ours'])} | {fmt_ms(warm['hugo'])} | "
      f"{fmt_ms(warm['mdbook'])} | {fmt_ratio(over(warm['hugo'], warm['ours']), '× faster')} | "
      f"{fmt_ratio(over(warm['mdbook'], warm['ours']), '× faster')} | {warm_target} |")
    w(f"| 2. warm rebuild: pages re-rendered | {rendered_text(warm_rendered)} | "
      f"all {fmt_int(lessons)} lessons | all {fmt_int(lessons)} lessons | | | |")

    def fmt_rss(kb):
        return "—" if kb is None else f"{kb / 1024:,.0f} MiB"

    w(f"| 3. peak RSS, cold build | {fmt_rss(rss['ours'])} | {fmt_rss(rss['hugo'])} | "
      f"{fmt_rss(rss['mdbook'])} | {fmt_ratio(over(rss['ours'], rss['hugo']))} | "
      f"{fmt_ratio(over(rss['ours'], rss['mdbook']))} | |")
    w(f"| 4. unchanged rebuild (no edit): wall time | {fmt_ms(unchanged)} "
      f"({rendered_text(unchanged_rendered)} rendered) | n/a¹ | n/a¹ | | | |")
    w("")
    w("Ratios: row 1 is our pages/s ÷ the peer's (higher is better for us); row 2 the peer's "
      "time ÷ ours; row 3 our RSS ÷ the peer's (lower is better for us).")
    w("")
    w("¹ Neither has an incremental mode in a one-shot build: every build re-renders every "
      "page, as in row 2.")
    w("")
    cold_ph = median_phases(r["out"] for r in sel("ours", "cold"))
    warm_ph = median_phases(r["out"] for r in sel("ours", "edit"))
    if cold_ph or warm_ph:
        w(f"Our phases (`--timings`, ms, medians): **cold**: {cold_ph or '—'}; "
          f"**warm edit**: {warm_ph or '—'}.")
        w("")

    def samples(tool, kind):
        return " ".join(f"{r['ms']:.0f}" for r in sel(tool, kind)) or "—"

    w("Samples (ms): cold " + "; ".join(f"{t} {samples(t, 'cold')}" for t in TOOLS)
      + " · warm edit " + "; ".join(f"{t} {samples(t, 'edit')}" for t in TOOLS)
      + f" · ours unchanged {samples('ours', 'unchanged')}.")
    print("\n".join(out))


def main():
    p = argparse.ArgumentParser(description="helpers of bench/build.sh")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("lessons")
    s.add_argument("content")
    s.add_argument("hugo")
    s.add_argument("book")
    s.set_defaults(func=cmd_lessons)
    for name, func, first in (("check-ours", cmd_check_ours, "store"), ("check-peer", cmd_check_peer, "out")):
        s = sub.add_parser(name)
        s.add_argument(first)
        s.add_argument("lessons")
        s.add_argument("--needle", nargs=2, metavar=("REL", "TEXT"))
        s.set_defaults(func=func)
    s = sub.add_parser("report")
    s.add_argument("results")
    s.add_argument("facts", nargs="*")
    s.set_defaults(func=cmd_report)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
