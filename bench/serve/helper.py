#!/usr/bin/env python3
"""Helpers of bench/serve.sh (Python 3 standard library only).

    helper.py plan STORE WORK [--mix N] [--cold-objects K] [--seed S]
    helper.py warm-compare EDGE NGINX WORK
    helper.py varnish-check VARNISH EDGE WORK
    helper.py rss BASE PID WORK --cache-bytes N [--passes N] --out FILE
    helper.py burst BASE WORK one|many [--requests N] --out FILE
    helper.py report WORK key=value...

`plan` reads the store's live release and writes the URL lists every other step uses
(WORK/plan.json, lesson.txt, mix.txt, walk.txt); the other steps talk HTTP/1.1 to the
servers with a small asyncio keep-alive client (several connections at once) and print
progress to stderr; `report` prints the markdown table.
"""

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import sys
import time
from statistics import median
from urllib.parse import urlsplit

LESSON_RE = re.compile(r"/courses/[^/]+/[^/]+/")
# Walk/compare concurrency: enough to keep a server busy without starving it of the CPU
# the client needs on a small box.
CONNS = 8


def log(msg):
    print(f"[serve-bench]   {msg}", file=sys.stderr, flush=True)


def fail(msg):
    print(f"[serve-bench] error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def mib(n):
    return n / (1 << 20)


# ------------------------------------------------------------------ HTTP/1.1 client


class Conn:
    """One keep-alive HTTP/1.1 connection (reconnects once if the server closed it)."""

    def __init__(self, base):
        u = urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.reader = self.writer = None

    def send(self, path, ae="identity", headers=None):
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Accept-Encoding: {ae}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def receive(self):
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        if status in (204, 304) or status < 200:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunks.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(c[:-2] for c in chunks)
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body = await self.reader.read()
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, body

    async def get(self, path, ae="identity", headers=None):
        for attempt in (0, 1):
            fresh = self.writer is None
            if fresh:
                await self.open()
            try:
                self.send(path, ae, headers)
                await self.writer.drain()
                return await self.receive()
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt or fresh:
                    raise
        raise AssertionError("unreachable")


async def pool(base, jobs, fn, conns=CONNS):
    """fn(conn, job) over jobs on `conns` keep-alive connections; results in job order."""
    results = [None] * len(jobs)
    todo = iter(enumerate(jobs))

    async def worker():
        conn = Conn(base)
        try:
            for i, job in todo:
                results[i] = await fn(conn, job)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(max(1, min(conns, len(jobs))))))
    return results


async def fetch_digest(conn, job):
    path, ae = job[0], job[1]
    status, headers, body = await conn.get(path, ae)
    return (status, headers.get("content-encoding", "identity"), len(body),
            hashlib.sha256(body).hexdigest(), headers)


async def metrics(base):
    conn = Conn(base)
    try:
        status, _, body = await conn.get("/metrics")
    finally:
        await conn.close()
    if status != 200:
        fail(f"{base}/metrics answered {status}")
    values = {}
    for m in re.finditer(r"^(edge_origin_[a-z_]+)(?:\{[^}]*\})? ([0-9.e+]+)$", body.decode(), re.M):
        values[m.group(1)] = values.get(m.group(1), 0) + float(m.group(2))
    if "edge_origin_store_fetches_total" not in values:
        fail("no edge_origin_store_fetches_total in /metrics")
    return values


# ------------------------------------------------------------------ plan


def load_release(store):
    with open(os.path.join(store, "channels", "live.json")) as f:
        release = json.load(f)["release"]
    with open(os.path.join(store, "releases", f"{release}.json")) as f:
        return release, json.load(f)


def variants(spec):
    """(encoding, object, size) for every representation of a route."""
    out = [("identity", spec["object"], spec["size"])]
    for enc, v in sorted(spec.get("encodings", {}).items()):
        out.append((enc, v["object"], v["size"]))
    return out


def page_asset(route, spec):
    """What a page view pulls in: styles, scripts, images and animations (not the videos
    and zips, which are range-fetched or downloaded)."""
    t = spec["type"]
    if route.startswith("/assets/"):
        return re.match(r"(text/css|text/javascript|image/|application/json)", t) is not None
    if route.startswith("/animations/"):
        return re.match(r"(application/json|image/)", t) is not None
    return False


def cmd_plan(a):
    release, manifest = load_release(a.store)
    routes = manifest["routes"]
    public = {r: s for r, s in routes.items() if s.get("access", "public") == "public"}
    lessons = sorted(r for r in public if LESSON_RE.fullmatch(r))
    assets = sorted(r for r, s in public.items() if page_asset(r, s))
    if not lessons or not assets:
        fail("no public lesson pages or no page assets in the release")
    rng = random.Random(a.seed)

    # (b) the mix: half lesson pages, half assets (one side fills in if the other is short).
    # Every stylesheet and script is in (a catalogue has a handful, and every page uses
    # them), the rest of the asset half is a sample of animations and images.
    n_lessons = min(len(lessons), max(a.mix // 2, a.mix - len(assets)))
    n_assets = min(len(assets), a.mix - n_lessons)
    code = [r for r in assets if re.match(r"text/(css|javascript)", public[r]["type"])][:n_assets]
    media = [r for r in assets if r not in set(code)]
    mix = rng.sample(lessons, n_lessons) + code + rng.sample(media, n_assets - len(code))
    rng.shuffle(mix)
    kinds = {}
    for r in mix:
        if LESSON_RE.fullmatch(r):
            k = "lesson pages"
        elif r.startswith("/animations/") or public[r]["type"].startswith("application/json"):
            k = "animation files"
        elif public[r]["type"].startswith("image/"):
            k = "images"
        elif public[r]["type"].startswith("text/css"):
            k = "css"
        else:
            k = "js"
        kinds[k] = kinds.get(k, 0) + 1
    order = ["lesson pages", "animation files", "images", "css", "js"]
    mix_desc = " + ".join(f"{kinds[k]} {k}" for k in order if k in kinds)

    # (a) one lesson page.
    lesson = "/courses/python-foundations/loops/"
    if lesson not in public:
        lesson = lessons[len(lessons) // 2]

    # (c) an enrolled-only lesson page (and its course's grant prefix).
    enrolled = sorted(r for r, s in routes.items()
                      if s.get("access", "").startswith("course:") and LESSON_RE.fullmatch(r))
    enrolled_route = enrolled[0] if enrolled else None
    enrolled_slug = routes[enrolled_route]["access"].split(":", 1)[1] if enrolled else None

    # Every representation of every public route, and the distinct bytes they name.
    walk, objects = [], {}
    for r in sorted(public):
        for enc, obj, size in variants(public[r]):
            walk.append((r, enc))
            objects[obj] = size
    catalogue = sum(objects.values())

    # Cold misses: requests that each name one object (no other read on their way).
    def cold_job(route, enc):
        for e, obj, size in variants(public[route]):
            if e == enc:
                return [route, enc, obj, size]
        return None

    one = cold_job(lesson, "gzip") or cold_job(lesson, "identity")
    candidates = [r for r in sorted(public) if r not in ("/404.html", "/403.html")]
    rng.shuffle(candidates)
    many, seen = [], set()
    for enc in ("gzip", "identity", "br"):
        for r in candidates:
            job = cold_job(r, enc)
            # Small objects only: 1,000 requests for a video would measure bandwidth.
            if job and job[2] not in seen and job[3] <= (1 << 20):
                seen.add(job[2])
                many.append(job)
            if len(many) == a.cold_objects:
                break
        if len(many) == a.cold_objects:
            break

    w = a.work
    with open(f"{w}/lesson.txt", "w") as f:
        f.write(lesson + "\n")
    with open(f"{w}/mix.txt", "w") as f:
        f.write("\n".join(mix) + "\n")
    with open(f"{w}/walk.txt", "w") as f:
        f.write("".join(f"{r}\t{e}\n" for r, e in walk))
    plan = {
        "release": release,
        "routes": len(routes),
        "public_routes": len(public),
        "public_lessons": len(lessons),
        "page_assets": len(assets),
        "lesson": lesson,
        "mix": mix,
        "mix_desc": mix_desc,
        "enrolled_route": enrolled_route,
        "enrolled_slug": enrolled_slug,
        "walk_requests": len(walk),
        "catalogue_objects": len(objects),
        "catalogue_bytes": catalogue,
        "cold_one": [one],
        "cold_many": many,
    }
    with open(f"{w}/plan.json", "w") as f:
        json.dump(plan, f, indent=1)
    # For the shell, one per line: release, lesson, enrolled route, its course, catalogue bytes.
    for k in ("release", "lesson", "enrolled_route", "enrolled_slug", "catalogue_bytes"):
        print(plan[k] if plan[k] is not None else "-")
    log(f"release {release}: {len(routes)} routes ({len(public)} public: {len(lessons)} lesson pages, "
        f"{len(assets)} page assets); mix of {len(mix)}: {mix_desc}; public catalogue "
        f"{len(objects)} objects, {mib(catalogue):.1f} MiB")


def read_plan(work):
    with open(f"{work}/plan.json") as f:
        return json.load(f)


def read_walk(work):
    with open(f"{work}/walk.txt") as f:
        return [tuple(line.rstrip("\n").split("\t")) for line in f if line.strip()]


# ------------------------------------------------------------------ warm + compare


def cmd_warm_compare(a):
    walk = read_walk(a.work)
    routes = sorted({r for r, _ in walk})

    async def run():
        t0 = time.monotonic()
        # Every representation on edge-origin: fills its object cache with the whole
        # public catalogue, so the load below is all hits.
        res = await pool(a.edge, walk, fetch_digest)
        bad = [(j, r[0]) for j, r in zip(walk, res) if r[0] != 200]
        for (path, enc), status in bad[:10]:
            log(f"edge-origin {path} (AE {enc}): {status}")
        if bad:
            fail(f"{len(bad)} of {len(walk)} warm-up requests to edge-origin were not 200")
        log(f"edge-origin warmed: {len(walk)} requests (every public route x its encodings) "
            f"in {time.monotonic() - t0:.1f}s")
        jobs = [(r, e) for r in routes for e in ("identity", "gzip")] + [("/no/such/page", "gzip")]
        t0 = time.monotonic()
        mine, theirs = await asyncio.gather(pool(a.edge, jobs, fetch_digest),
                                            pool(a.nginx, jobs, fetch_digest))
        bad = 0
        for (path, enc), x, y in zip(jobs, mine, theirs):
            if x[:4] != y[:4]:
                bad += 1
                if bad <= 10:
                    log(f"MISMATCH {path} (AE {enc}): edge-origin {x[0]} {x[1]} {x[2]} B, "
                        f"nginx {y[0]} {y[1]} {y[2]} B")
        if bad:
            fail(f"{bad} mismatch(es): the servers do not answer the same bytes")
        log(f"same status, Content-Encoding and bytes on {len(jobs)} requests ({len(routes)} "
            f"public routes x identity/gzip + a 404) in {time.monotonic() - t0:.1f}s")

    asyncio.run(run())


def cmd_varnish_check(a):
    plan = read_plan(a.work)
    jobs = [(r, "gzip") for r in plan["mix"]]

    async def run():
        first = await pool(a.varnish, jobs, fetch_digest)
        second, direct = await asyncio.gather(pool(a.varnish, jobs, fetch_digest),
                                              pool(a.edge, jobs, fetch_digest))
        bad = 0
        for (path, _), x, y in zip(jobs, second, direct):
            if x[:4] != y[:4] or x[0] != 200:
                bad += 1
                if bad <= 10:
                    log(f"MISMATCH {path}: Varnish {x[0]} {x[1]} {x[2]} B, edge-origin {y[0]} {y[1]} {y[2]} B")
        if bad:
            fail(f"{bad} mismatch(es) between Varnish and edge-origin on the mix")
        misses = [p for (p, _), x in zip(jobs, second) if x[4].get("x-cache") != "HIT"]
        if misses:
            fail(f"{len(misses)} mix routes are not Varnish hits on the second pass, e.g. {misses[:3]}")
        log(f"Varnish: {len(jobs)} mix routes stored ({sum(1 for x in first if x[0] == 200)} x 200 on the "
            f"first pass), all HITs with edge-origin's bytes on the second")

    asyncio.run(run())


# ------------------------------------------------------------------ RSS vs --cache-bytes


def vm(pid):
    """VmRSS and VmHWM of a process, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


def cmd_rss(a):
    """Walk every representation of every public route `passes` times through a fresh
    edge-origin, then read its memory."""
    walk = read_walk(a.work)
    start = vm(a.pid)

    async def run():
        t0 = time.monotonic()
        statuses, nbytes = {}, 0
        for _ in range(a.passes):
            res = await pool(a.base, walk, fetch_digest)
            for r in res:
                statuses[r[0]] = statuses.get(r[0], 0) + 1
                nbytes += r[2]
        m = await metrics(a.base)
        return statuses, nbytes, time.monotonic() - t0, m

    statuses, nbytes, secs, m = asyncio.run(run())
    if set(statuses) != {200}:
        fail(f"walk: statuses {statuses}")
    out = {"requests": sum(statuses.values()), "bytes": nbytes, "seconds": secs, "passes": a.passes,
           "store_fetches": m["edge_origin_store_fetches_total"], "start_rss": start["VmRSS"],
           "cache_bytes": a.cache_bytes, **vm(a.pid)}
    log(f"walked {out['requests']} requests ({mib(nbytes):.1f} MiB, {a.passes} pass(es)) in {secs:.1f}s; "
        f"store fetches {out['store_fetches']:.0f}; VmRSS {mib(out['VmRSS']):.1f} MiB, VmHWM "
        f"{mib(out['VmHWM']):.1f} MiB (--cache-bytes {mib(a.cache_bytes):.1f} MiB)")
    with open(a.out, "w") as f:
        json.dump(out, f)


# ------------------------------------------------------------------ burst of cold misses


def cmd_burst(a):
    plan = read_plan(a.work)
    jobs = plan["cold_one" if a.which == "one" else "cold_many"]
    n = a.requests

    async def run():
        conns = [Conn(a.base) for _ in range(n)]
        # Connect first (in batches, within the listen backlog), then send every request
        # at once, so the burst is the requests and not the TCP handshakes.
        for i in range(0, n, 100):
            await asyncio.gather(*(c.open() for c in conns[i:i + 100]))
        before = await metrics(a.base)

        async def one(i, conn):
            path, enc, obj, size = jobs[i % len(jobs)]
            status, _, body = await conn.receive()
            done = time.perf_counter()
            ok = status == 200 and len(body) == size and hashlib.sha256(body).hexdigest() == obj
            return status, ok, done

        # One tight loop of writes (each goes straight to its socket), no await between.
        t0 = time.perf_counter()
        for i, c in enumerate(conns):
            c.send(jobs[i % len(jobs)][0], jobs[i % len(jobs)][1])
        sent = time.perf_counter()
        results = await asyncio.gather(*(one(i, c) for i, c in enumerate(conns)))
        after = await metrics(a.base)
        for c in conns:
            await c.close()
        return t0, sent, results, before, after

    t0, sent, results, before, after = asyncio.run(run())
    lat = sorted((r[2] - t0) * 1e3 for r in results)
    delta = {k.replace("edge_origin_", "").replace("_total", ""): after.get(k, 0) - before.get(k, 0)
             for k in ("edge_origin_store_fetches_total", "edge_origin_cache_misses_total",
                       "edge_origin_cache_hits_total")}
    out = {
        "requests": n,
        "objects": len({j[2] for j in jobs}),
        "ok": sum(1 for r in results if r[1]),
        "statuses": sorted({r[0] for r in results}),
        "wall_ms": lat[-1],
        "send_ms": (sent - t0) * 1e3,
        "p50_ms": lat[len(lat) // 2],
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        **delta,
    }
    log(f"burst {a.which}: {n} requests over {out['objects']} objects (all written in "
        f"{out['send_ms']:.1f} ms): {out['ok']} x 200 with the right bytes, store fetches "
        f"{out['store_fetches']:.0f}, cache misses {out['cache_misses']:.0f}, wall {out['wall_ms']:.0f} ms")
    with open(a.out, "w") as f:
        json.dump(out, f)


# ------------------------------------------------------------------ report

UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(path):
    with open(path) as f:
        text = f.read()
    m = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M)
    p = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\b", text, re.M)
    t = re.search(r"^Transfer/sec:\s*([\d.]+\S+)", text, re.M)
    if not (m and p):
        fail(f"cannot parse wrk output {path}:\n{text}")
    errors = []
    e = re.search(r"Socket errors: (.*)", text)
    if e:
        errors.append("socket errors: " + e.group(1))
    e = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if e:
        errors.append(f"{e.group(1)} non-2xx/3xx")
    return {"rps": float(m.group(1)), "p99": float(p.group(1)) * UNIT[p.group(2)],
            "xfer": t.group(1) if t else "?", "errors": errors}


def plural(n, one, many):
    return one if n == 1 else many


def ms(v):
    return f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms" if v < 100 else f"{v:.0f} ms"


def cmd_report(a):
    meta = dict(kv.split("=", 1) for kv in a.meta)
    work = a.work
    plan = read_plan(work)
    rounds = int(meta["rounds"])
    rows, notes = [], []

    def runs(key):
        return [parse_wrk(f"{work}/wrk-{key}-{r}.txt") for r in range(1, rounds + 1)]

    def med(rs, k):
        return median(r[k] for r in rs)

    def load_row(label, mine_key, peer_key, peer_name, target=None):
        mine, peer = runs(mine_key), runs(peer_key)
        ratios = [x["rps"] / y["rps"] for x, y in zip(mine, peer)]
        ratio = f"{median(ratios):.2f}"
        if target is not None:
            ratio += f" ({'meets' if median(ratios) >= target else 'BELOW'} target >= {target})"
        rows.append((label, f"{med(mine, 'rps'):,.0f} req/s", f"{peer_name} {med(peer, 'rps'):,.0f} req/s",
                     ratio, ms(med(mine, "p99")), ms(med(peer, "p99"))))
        if rounds > 1:
            notes.append(f"- {label}: per-round ratios " + ", ".join(f"{x:.2f}" for x in ratios))
        for key, rs in ((mine_key, mine), (peer_key, peer)):
            for i, r in enumerate(rs, 1):
                if r["errors"]:
                    notes.append(f"- WARNING wrk {key} round {i}: " + "; ".join(r["errors"]))

    n = len(plan["mix"])
    load_row(f"1a. hit: one lesson page `{plan['lesson']}`", "a-edge", "a-nginx", "nginx")
    load_row(f"1b. hit: mix of {n:,} routes ({plan['mix_desc']})", "b-edge", "b-nginx", "nginx")
    load_row("2a. hit: same mix, Varnish in front of edge-origin", "b-varnish", "b-nginx", "nginx")
    load_row("2b. hit: same mix, Varnish in front vs edge-origin direct", "b-varnish", "b-edge",
             "edge-origin direct")
    if meta["access_separate"] == "1":
        load_row(f"3. enrolled page `{meta['enrolled']}` + signed cookie vs public "
                 f"`{meta['access_public']}` (sample content/, same edge-origin)",
                 "c-edge", "c-public", "public page", target=0.8)
        notes.append("- 3: this catalogue has no enrolled-only course, so row 3 ran on a second "
                     "edge-origin serving the repo's sample content/ (same flags)")
    else:
        load_row(f"3. enrolled page `{meta['enrolled']}` + signed cookie vs public page of 1a",
                 "c-edge", "a-edge", "public page", target=0.8)

    for which, label in (("one", "4a. cold: {n:,} concurrent requests for 1 object"),
                         ("many", "4b. cold: {n:,} concurrent requests over {k} objects")):
        with open(f"{work}/burst-{which}.json") as f:
            b = json.load(f)
        exact = b["store_fetches"] == b["objects"]
        all_ok = b["ok"] == b["requests"]
        rows.append((
            label.format(n=b["requests"], k=b["objects"]),
            f"{b['store_fetches']:.0f} store {plural(b['store_fetches'], 'fetch', 'fetches')} for "
            f"{b['objects']} {plural(b['objects'], 'object', 'objects')}; {b['ok']:,}/{b['requests']:,} "
            f"x 200 with the right bytes; wall {b['wall_ms']:.0f} ms",
            "target: exactly 1 fetch per object, all 200",
            f"{b['store_fetches'] / b['objects']:.2f} fetch/object "
            f"({'OK' if exact and all_ok else 'FAIL'})",
            ms(b["p99_ms"]), "",
        ))
        notes.append(f"- 4{'a' if which == 'one' else 'b'}: requests written in {b['send_ms']:.1f} ms; "
                     f"{b['cache_misses']:.0f} found the object uncached (and joined or started its "
                     f"one fetch), {b['cache_hits']:.0f} found it cached; client p50 {ms(b['p50_ms'])}; "
                     f"statuses {b['statuses']}")

    for which in ("small", "large"):
        with open(f"{work}/rss-{which}.json") as f:
            r = json.load(f)
        rss, hwm, start, cache = r["VmRSS"], r["VmHWM"], r["start_rss"], r["cache_bytes"]
        cat = plan["catalogue_bytes"]
        if which == "small":
            label = f"5a. RSS, --cache-bytes {mib(cache):.1f} MiB < catalogue ({r['passes']} walks)"
            peer = f"--cache-bytes {mib(cache):.1f} MiB (catalogue {mib(cat):.1f} MiB)"
            ratio = f"{rss / cache:.2f} x cache-bytes"
        else:
            label = f"5b. RSS, --cache-bytes {mib(cache):.0f} MiB holding the whole catalogue"
            peer = f"catalogue {mib(cat):.1f} MiB ({plan['catalogue_objects']:,} objects)"
            ratio = f"{rss / cat:.2f} x catalogue"
        rows.append((label, f"VmRSS {mib(rss):.1f} MiB (VmHWM {mib(hwm):.1f}; {mib(start):.1f} at start)",
                     peer, ratio, "", ""))
        notes.append(f"- 5{'a' if which == 'small' else 'b'}: {r['requests']:,} requests, "
                     f"{mib(r['bytes']):.1f} MiB served, store fetches {r['store_fetches']:.0f}; RSS growth "
                     f"over start {mib(rss - start):.1f} MiB = {(rss - start) / (cache if which == 'small' else cat):.2f}"
                     f" x {'cache-bytes' if which == 'small' else 'catalogue'}")

    quick = " (--quick)" if meta["quick"] == "1" else ""
    per = "one round" if rounds == 1 else f"median of {rounds} rounds (rotating which server goes first)"
    print(f"## Serve benchmark: edge-origin vs nginx and Varnish{quick}\n")
    print(f"Content: {meta['content']}; release {plan['release']}: {plan['routes']:,} routes "
          f"({plan['public_routes']:,} public; {plan['public_lessons']:,} public lesson pages, "
          f"{plan['page_assets']:,} page assets), public catalogue {plan['catalogue_objects']:,} objects "
          f"{mib(plan['catalogue_bytes']):.1f} MiB.  ")
    print(f"Load (rows 1-3): wrk -t{meta['threads']} -c{meta['connections']} -d{meta['duration']} --latency "
          f"-H 'Accept-Encoding: gzip' on loopback, {per}; all hits (every server warmed).  ")
    print(f"edge-origin: release build, **RUST_LOG={meta['rust_log']}**, --cache-bytes {meta['cache']} "
          f"for rows 1-3. nginx {meta['nginx']} (worker_processes auto, sendfile, gzip_static, "
          f"open_file_cache, access_log off) serving the exported files from disk. Varnish "
          f"{meta['varnish']} (-s malloc,256m, edge-origin/deploy/varnish.vcl). wrk {meta['wrk']}.  ")
    print(f"Machine: {meta['nproc']} CPUs ({meta['cpu']}) shared by the servers and the load "
          f"generator: compare ratios, not absolute numbers. CPU busy before the load: {meta['busy']}.\n")
    print("| scenario | edge-origin side | peer | ratio | p99 (edge-origin side) | p99 (peer) |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(f"Rows 4-5 each use a fresh edge-origin (empty cache); row 4's client is Python asyncio, "
          f"connected first, then every request written at once; wall = first write to last "
          f"response. Row 5 walks every public route in every encoding ({plan['walk_requests']:,} "
          "requests a pass).")
    if meta.get("varnish_stats"):
        notes.append(f"- Varnish during the load: {meta['varnish_stats']}")
    print("\n".join(notes))


# ------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("store")
    p.add_argument("work")
    p.add_argument("--mix", type=int, default=2000)
    p.add_argument("--cold-objects", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("warm-compare")
    p.add_argument("edge")
    p.add_argument("nginx")
    p.add_argument("work")
    p = sub.add_parser("varnish-check")
    p.add_argument("varnish")
    p.add_argument("edge")
    p.add_argument("work")
    p = sub.add_parser("rss")
    p.add_argument("base")
    p.add_argument("pid")
    p.add_argument("work")
    p.add_argument("--cache-bytes", type=int, required=True)
    p.add_argument("--passes", type=int, default=1)
    p.add_argument("--out", required=True)
    p = sub.add_parser("burst")
    p.add_argument("base")
    p.add_argument("work")
    p.add_argument("which", choices=["one", "many"])
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("work")
    p.add_argument("meta", nargs="*")
    a = ap.parse_args()
    {"plan": cmd_plan, "warm-compare": cmd_warm_compare, "varnish-check": cmd_varnish_check,
     "rss": cmd_rss, "burst": cmd_burst, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
