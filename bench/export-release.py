#!/usr/bin/env python3
"""Materialise the live release of a `course build` store as a plain file tree.

    bench/export-release.py STORE_DIR OUT_DIR [--channel live]

Each route of the release the channel points at becomes a file under OUT_DIR holding
its identity bytes (`/a/b/` -> OUT/a/b/index.html, `/x.css` -> OUT/x.css), and each
precompressed variant sits next to it as `<file>.gz` / `<file>.br`, so nginx can serve
the same bytes with `gzip_static on` (Debian's nginx has no brotli_static).

Every object is checked against its SHA-256 name and its manifest size before it is
written. OUT_DIR must be empty or missing. Prints one summary line.
"""

import argparse
import hashlib
import json
import os
import sys
from urllib.parse import unquote

SUFFIX = {"gzip": ".gz", "br": ".br"}


def fail(msg):
    print(f"export-release: {msg}", file=sys.stderr)
    sys.exit(1)


def read_object(store, key, size, route):
    path = os.path.join(store, "objects", key)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"route {route}: object {key}: {e}")
    if hashlib.sha256(data).hexdigest() != key:
        fail(f"route {route}: object {key} does not match its hash")
    if len(data) != size:
        fail(f"route {route}: object {key} is {len(data)} bytes, manifest says {size}")
    return data


def route_file(route):
    """The relative file path a route is served from, or fail on anything unsafe."""
    if not route.startswith("/"):
        fail(f"route {route!r} does not start with /")
    rel = unquote(route[1:])
    if rel == "" or rel.endswith("/"):
        rel += "index.html"
    parts = rel.split("/")
    if any(p in ("", ".", "..") or "\0" in p for p in parts):
        fail(f"route {route!r} has an unsafe path segment")
    return os.path.join(*parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store")
    ap.add_argument("out")
    ap.add_argument("--channel", default="live")
    args = ap.parse_args()

    channel_path = os.path.join(args.store, "channels", f"{args.channel}.json")
    try:
        with open(channel_path) as f:
            release = json.load(f)["release"]
        with open(os.path.join(args.store, "releases", f"{release}.json"), "rb") as f:
            manifest_bytes = f.read()
    except (OSError, KeyError, ValueError) as e:
        fail(f"cannot load the {args.channel} release of {args.store}: {e}")
    if hashlib.sha256(manifest_bytes).hexdigest()[: len(release)] != release:
        fail(f"release {release} does not hash to its id")
    manifest = json.loads(manifest_bytes)

    if os.path.exists(args.out) and os.listdir(args.out):
        fail(f"{args.out} exists and is not empty")

    written = {}  # relative file -> route, to catch two routes claiming one file
    files = total = 0
    for route, spec in sorted(manifest["routes"].items()):
        rel = route_file(route)
        outputs = [(rel, spec["object"], spec["size"])]
        for enc, variant in sorted(spec.get("encodings", {}).items()):
            if enc not in SUFFIX:
                fail(f"route {route}: unknown encoding {enc!r}")
            outputs.append((rel + SUFFIX[enc], variant["object"], variant["size"]))
        for path, key, size in outputs:
            if path in written:
                fail(f"routes {written[path]} and {route} both map to {path}")
            written[path] = route
            data = read_object(args.store, key, size, route)
            dest = os.path.join(args.out, path)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(data)
            files += 1
            total += len(data)

    print(f"exported release {release}: {len(manifest['routes'])} routes, {files} files, "
          f"{total} bytes -> {args.out}")


if __name__ == "__main__":
    main()
