# Varnish in front of edge-origin (Varnish 7.x).
#   varnishd -a :80 -f /etc/varnish/varnish.vcl -s malloc,1g -p nuke_limit=1000
# (nuke_limit: storing a video in a full cache may take evicting more than the default 50
# small objects; past the limit that fetch fails, and its student gets a 503.)
# Caching follows the origin's Cache-Control; this file only adds what a shared cache
# in front of a course site needs. Tests: tests/testsuite/origin_varnish.rs, tests/testsuite/edge_fleet.rs.
vcl 4.1;

import directors;
import std;

# Every origin is probed for readiness (not just liveness: 200 only once a release is
# loaded). A probe every 1s; an origin is healthy while 2 of its last 3 probes passed:
# a dead origin (refused or reset) is marked sick after 2 failed probes, within ~1-2 s
# (~3 s if it hangs, with the 1 s timeout); a restarted one is healthy again after 2 good
# probes, within ~2 s of being ready (~3 s at worst). Until then a fetch that fails on it
# is retried on another origin (vcl_backend_error / vcl_backend_response).
probe origin_ready {
    .url = "/_origin/ready";
    .interval = 1s;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
    .initial = 1;
}

# Traffic goes to a shard director: consistent hashing on the URL, so each origin's
# in-memory object cache holds about 1/N of the site (not all of it N times), every edge
# sends a URL to the same origin, and losing or adding an origin only moves that origin's
# share of URLs (the others keep their warm caches). Sick origins are skipped; a retry
# takes the next origin of the URL's order (alt = bereq.retries).
sub vcl_init {
    new origins = directors.shard();
}

# ==== ORIGINS: list every edge-origin here, once: a backend and its add_backend. ====
# (tests/src/varnish.rs rewrites this block for the origins a test starts.)
backend origin_1 {
    .host = "127.0.0.1";
    .port = "8080";
    .probe = origin_ready;
    .connect_timeout = 2s;
    .first_byte_timeout = 10s;
    .between_bytes_timeout = 10s;
}

sub vcl_init {
    origins.add_backend(origin_1);
}
# ==== END ORIGINS ====

sub vcl_init {
    if (!origins.reconfigure()) {
        return (fail("no origins"));
    }
}

# Who may PURGE: the publish step runs on this host.
acl purgers {
    "localhost";
    "127.0.0.1";
    "::1";
}

# Enrolled courses (`/courses/<slug>/...`, the one scope a grant names) are cached here for
# all their students, and only ever delivered to a request that was let in for the course:
#   1. A request carrying a signed cookie first looks up a *verdict* (vcl_hash: by course,
#      Host, the whole Cookie header and the client's address, never shared across grants):
#      `GET /_origin/grant-check` with `X-Grant-Course: <slug>` asks an origin whether the
#      grant opens every path of the course, checked as it checks grants for pages. It
#      answers 200 or 403 and how long that holds (`X-Grant-Verdict-TTL`: at most 30 s,
#      never past the grant's expiry); verdicts are never served stale.
#   2. On a 200, vcl_deliver restarts the request with `X-Edge-Grant: <slug>`, a marker only
#      this VCL sets (a client's copy is dropped on arrival), which puts it under a hash of
#      its own (" enrolled" + URL) shared by every student of the course, fetched from the
#      origin with the CDN's origin-verify secret (so the origin lets it be cached).
#      Anything else (403, a grant narrower than the course, origins failing) passes the
#      original request to an origin, which decides as it always did.
#   3. Every enrolled answer names its course (`X-Course-Scope`); vcl_deliver refuses to
#      deliver a shared one unless the request's marker names that same course, and tells
#      the browser `private` (`X-Viewer-Cache-Control`) so no cache after this one keeps it.
# A request without a grant never reaches the enrolled hash: the origin answers it (403).
# Signed URLs (grants in the query) are passed as before: the origin turns them into cookies.
# Without an origin-verify secret set below, grant-carrying requests are all passed.
sub vcl_recv {
    # This VCL's own state travels in these headers across restarts: none may come from a
    # client. (A restart keeps them; only a new request starts at restarts == 0.)
    if (req.restarts == 0) {
        unset req.http.X-Edge-Grant;
        unset req.http.X-Edge-Step;
        unset req.http.X-Edge-Stale;
        unset req.http.X-Grant-Course;
        unset req.http.X-Grant-Url;
        # Several Cookie headers are one list, as the origin reads them (and as hashed).
        std.collect(req.http.Cookie, "; ");
    }
    # The director (any origin healthy = healthy); each fetch picks its origin itself.
    set req.backend_hint = origins.backend(resolve=LAZY);
    call drop_forged_origin_verify;
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(405, "Not allowed"));
        }
        # Removes every object of the URL: all its Vary variants (encodings); vcl_purge
        # then does the same for the URL's enrolled hash.
        return (purge);
    }
    # The origin only serves GET/HEAD; anything else goes to it uncached (it answers 405).
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # A grant the verdict did not confirm for the whole course: the origin decides.
    if (req.http.X-Edge-Step == "pass") {
        return (pass);
    }
    if (req.restarts == 0) {
        call authorise_enrolled;
    }
    # The site is static: other cookies (analytics etc.) must not split or bypass the cache,
    # and no query string changes an answer (the origin ignores them), so none may make
    # the cache keep one more copy of a page (`?cb=1`, `?cb=2`...).
    unset req.http.Cookie;
    set req.url = regsub(req.url, "\?.*$", "");
    # Let in for the course: the fetch proves to the origin that this edge checked.
    if (req.http.X-Edge-Grant) {
        call load_origin_verify_secret;
        set req.http.X-Origin-Verify = req.http.X-Expected-Origin-Verify;
        unset req.http.X-Expected-Origin-Verify;
    }

    call normalise_encoding;

    # While an origin is healthy, serve stale for at most its stale-while-revalidate
    # (60s) and refresh in the background; when every origin is sick, the full grace (24h)
    # applies, which is its stale-if-error. A restart (vcl_synth: every origin failed the
    # refresh of a stale object) looks the stale object up again with the full grace
    # (req.grace survives a restart: set it back, it cannot be unset).
    if (req.http.X-Edge-Stale) {
        set req.grace = 24h;
    } else if (std.healthy(req.backend_hint)) {
        set req.grace = 60s;
    }
    # Fall through to the builtin vcl_recv (Host lowercasing, Authorization -> pass).
}

# Deploy: put edge-origin's --origin-verify-secret between these quotes. It is how a CDN
# in front of this edge proves itself (see drop_forged_origin_verify), and how this edge
# proves to the origins that it checked a grant (authorise_enrolled). Left empty, the
# header is always dropped and requests with grants are passed to the origins.
sub load_origin_verify_secret {
    set req.http.X-Expected-Origin-Verify = "";
}

# Which enrolled course, if any, the request is let in for (see the top of vcl_recv).
sub authorise_enrolled {
    if (req.url ~ "^/courses/[^/?]+/") {
        set req.http.X-Grant-Course = regsub(req.url, "^/courses/([^/?]+)/.*$", "\1");
    }
    if (!req.http.X-Grant-Course) {
        # Not a course's URL: nothing enrolled lives here. A signed URL still goes to
        # the origin (it answers such a URL as it will); cookies are dropped below.
        if (req.url ~ "[?&](Policy|Signature|Key-Pair-Id|Expires|Hash-Algorithm)=") {
            return (pass);
        }
    } else if (req.http.X-Origin-Verify) {
        # The CDN in front of this edge checked the grant (it holds the secret).
        set req.http.X-Edge-Grant = req.http.X-Grant-Course;
        unset req.http.X-Grant-Course;
    } else if (req.url ~ "[?&](Policy|Signature|Key-Pair-Id|Expires|Hash-Algorithm)=") {
        # A signed URL: the origin answers with the grant as cookies (never cached).
        return (pass);
    } else if (req.http.Cookie ~ "(^|;)\s*CloudFront-(Policy|Signature|Key-Pair-Id|Expires|Hash-Algorithm)\s*=") {
        call load_origin_verify_secret;
        if (req.http.X-Expected-Origin-Verify == "" || req.http.X-Grant-Course !~ "^[a-z0-9][a-z0-9-]*$") {
            # No way to prove the check to the origin, or no course: the origin decides.
            unset req.http.X-Expected-Origin-Verify;
            return (pass);
        }
        unset req.http.X-Expected-Origin-Verify;
        set req.http.X-Edge-Step = "verdict";
        set req.http.X-Grant-Url = req.url;
        set req.url = "/_origin/grant-check";
        return (hash);
    } else {
        unset req.http.X-Grant-Course;
    }
}

# X-Origin-Verify proves a request came through the CDN in front of this edge. Only the
# CDN's copy, carrying the shared secret, may reach the origin: any other value is dropped,
# so a client can neither fake it nor make the cache keep one more copy of a page per value
# it sends (objects vary on this header, see vcl_backend_response).
sub drop_forged_origin_verify {
    call load_origin_verify_secret;
    if (req.http.X-Expected-Origin-Verify == "" ||
        req.http.X-Origin-Verify != req.http.X-Expected-Origin-Verify) {
        unset req.http.X-Origin-Verify;
        # Nor may a client name its own address the way CloudFront does for the origin
        # (`--real-ip-header CloudFront-Viewer-Address`); X-Forwarded-For is safe, as
        # Varnish appends the address it sees.
        unset req.http.CloudFront-Viewer-Address;
    }
    unset req.http.X-Expected-Origin-Verify;
}

# Reduce Accept-Encoding to the one encoding the origin will pick (br > gzip > none), so
# a URL has at most three variants. The choice is kept in X-Encoding too: Varnish's
# gzip support rewrites Accept-Encoding after vcl_recv (br clients would get gunzipped
# bytes) and ignores it in Vary, so objects also vary on X-Encoding (added in
# vcl_backend_response, hidden again in vcl_deliver).
sub normalise_encoding {
    set req.http.X-Encoding = "identity";
    if (req.http.Accept-Encoding ~ "(?i)(^|,)\s*gzip\s*(;|,|$)" &&
        req.http.Accept-Encoding !~ "(?i)(^|,)\s*gzip\s*;\s*q=0(\.0*)?\s*(,|$)") {
        set req.http.X-Encoding = "gzip";
    }
    if (req.http.Accept-Encoding ~ "(?i)(^|,)\s*br\s*(;|,|$)" &&
        req.http.Accept-Encoding !~ "(?i)(^|,)\s*br\s*;\s*q=0(\.0*)?\s*(,|$)") {
        set req.http.X-Encoding = "br";
    }
    if (req.http.X-Encoding == "identity") {
        unset req.http.Accept-Encoding;
    } else {
        set req.http.Accept-Encoding = req.http.X-Encoding;
    }
}

# One site per edge: the cache key is the URL alone, so a client cannot multiply cached
# copies of a page by sending Host values (the origin's answers do not depend on Host; its
# verdicts on grants, which it checks against the host, do, and are keyed by it).
# Enrolled objects (requests let in for their course, X-Edge-Grant) and verdicts have
# hashes of their own, which start with a space: no request line's URL can hold one, so no
# URL hashes like them. A verdict is keyed by everything the origin reads to give it: the
# course, Host, the Cookie header and the client's address (the headers an origin may take
# it from: add yours if its --real-ip-header is another), each escaped so that no value
# can shift into the next (hash_data joins them with `#`).
sub vcl_hash {
    if (req.http.X-Edge-Step == "verdict") {
        hash_data(" grant-check");
        hash_data(req.http.X-Grant-Course);
        hash_data(regsuball(regsuball(req.http.Host, "%", "%25"), "#", "%23"));
        hash_data(regsuball(regsuball(req.http.Cookie, "%", "%25"), "#", "%23"));
        hash_data(client.ip);
        hash_data(regsuball(regsuball(req.http.X-Forwarded-For, "%", "%25"), "#", "%23"));
        hash_data(regsuball(regsuball(req.http.CloudFront-Viewer-Address, "%", "%25"), "#", "%23"));
        hash_data(regsuball(regsuball(req.http.X-Real-IP, "%", "%25"), "#", "%23"));
        return (lookup);
    }
    if (req.http.X-Edge-Grant) {
        hash_data(" enrolled");
    }
    hash_data(req.url);
    return (lookup);
}

sub vcl_purge {
    # An enrolled object lives under the URL's enrolled hash: purge that too.
    if (!req.http.X-Edge-Grant) {
        set req.http.X-Edge-Grant = "purge";
        return (restart);
    }
}

sub vcl_backend_fetch {
    if (bereq.http.X-Edge-Step == "verdict") {
        # Verdicts spread over the origins by their own hash (they share one URL).
        set bereq.backend = origins.backend(by=HASH, alt=bereq.retries, healthy=ALL);
        unset bereq.http.X-Origin-Verify;
        return (fetch);
    }
    # The URL's origin; on a retry the next one in the URL's order of healthy origins.
    set bereq.backend = origins.backend(by=URL, alt=bereq.retries, healthy=ALL);
    # Ask the origin for exactly the client's encoding (Varnish would force gzip).
    if (bereq.http.X-Encoding == "identity") {
        unset bereq.http.Accept-Encoding;
    } else {
        set bereq.http.Accept-Encoding = bereq.http.X-Encoding;
    }
    # X-Encoding stays: Varnish builds the object's Vary key from this request.
}

sub vcl_backend_response {
    if (beresp.status >= 500) {
        # One origin failing (say, lost its store) is not the others failing.
        if (bereq.retries == 0 && (bereq.method == "GET" || bereq.method == "HEAD") &&
            std.healthy(origins.backend(resolve=LAZY))) {
            return (retry);
        }
        # A failed background refresh keeps the stale object (stale-if-error). So does
        # a failed foreground one: Varnish revalidates (If-None-Match / If-Modified-Since)
        # only when it still holds a stale copy, and abandoning makes vcl_synth restart
        # the request, which then gets that copy from grace instead of the 5xx.
        if (bereq.is_bgfetch || (!bereq.uncacheable &&
            (bereq.http.If-None-Match || bereq.http.If-Modified-Since))) {
            return (abandon);
        }
    }
    if (bereq.http.X-Edge-Step == "verdict") {
        # For as long as the origin said (a missing or bad value: not at all), never stale.
        if (beresp.status == 200 || beresp.status == 403) {
            set beresp.ttl = std.duration(beresp.http.X-Grant-Verdict-TTL + "s", 0s);
        } else {
            set beresp.ttl = 0s;
        }
        set beresp.grace = 0s;
        set beresp.keep = 0s;
        if (beresp.ttl <= 0s) {
            set beresp.uncacheable = true;
        }
        return (deliver);
    }
    # Pages and other small answers (up to 4 MiB) are fetched whole before the client
    # gets a byte: an origin dying mid-body (kill -9) then fails the fetch before anything
    # was sent, and Varnish runs vcl_backend_error, which retries on another origin. A
    # streamed body that breaks can only be cut short at the client. Large media keeps
    # streaming (its first bytes should not wait for its last).
    if (beresp.status == 200 && std.integer(beresp.http.Content-Length, 4194305) <= 4194304) {
        set beresp.do_stream = false;
    }
    if (bereq.uncacheable) {
        return (deliver);
    }
    # An enrolled answer for another course than the request was let in for: not stored
    # (and vcl_deliver does not deliver it).
    if (beresp.http.X-Course-Scope && beresp.http.X-Course-Scope != bereq.http.X-Edge-Grant) {
        set beresp.ttl = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    # Private (enrolled pages) and no-store (403s, errors): never stored; remembered as
    # hit-for-miss so requests for them are not queued behind each other.
    if (beresp.http.Cache-Control ~ "(?i)(^|[,\s])(private|no-store)\b") {
        set beresp.ttl = 120s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    if (beresp.http.Vary) {
        set beresp.http.Vary = regsub(beresp.http.Vary, "(?i)\bAccept-Encoding\b", "\0, X-Encoding");
    }
    # With the CDN's X-Origin-Verify secret the origin lets enrolled pages be cached:
    # such objects must never answer a request that lacks the secret (e.g. one that
    # bypassed the CDN). Vary keeps them under the URL's hash, so PURGE still reaches them.
    if (bereq.http.X-Origin-Verify) {
        if (beresp.http.Vary) {
            set beresp.http.Vary = beresp.http.Vary + ", X-Origin-Verify";
        } else {
            set beresp.http.Vary = "X-Origin-Verify";
        }
    }
    # TTL stays Varnish's own reading of s-maxage / max-age; keep objects 24h past it
    # to serve stale (see req.grace in vcl_recv). Not-found answers are not worth it: a
    # flood of random paths would otherwise fill the cache with a day of 404s.
    if (beresp.status == 404) {
        set beresp.grace = 60s;
    } else {
        set beresp.grace = 24h;
    }
    # Fall through to the builtin (Set-Cookie, no-cache, ttl <= 0 -> hit-for-miss).
}

sub vcl_backend_error {
    # Same for an unreachable origin (refused, reset, timed out): another one, once...
    if (bereq.retries == 0 && (bereq.method == "GET" || bereq.method == "HEAD") &&
        std.healthy(origins.backend(resolve=LAZY))) {
        return (retry);
    }
    # ...then the stale copy if there is one.
    if (bereq.is_bgfetch || (!bereq.uncacheable &&
        (bereq.http.If-None-Match || bereq.http.If-Modified-Since))) {
        return (abandon);
    }
}

sub vcl_miss {
    # X-Edge-Stale: vcl_synth restarted after every origin failed to refresh a stale object;
    # this looks with the full grace: a miss now means the copy is gone, and fetching
    # again would only ask the failing origins once more.
    if (req.http.X-Edge-Stale) {
        return (synth(503, "Origins unavailable"));
    }
}

sub vcl_synth {
    # An abandoned foreground fetch (see vcl_backend_response): serve the stale copy
    # (X-Edge-Stale: with the full grace, once).
    if (resp.status == 503 && !req.http.X-Edge-Stale && req.http.X-Edge-Step != "verdict" &&
        (req.method == "GET" || req.method == "HEAD")) {
        set req.http.X-Edge-Stale = "1";
        return (restart);
    }
}

sub vcl_deliver {
    if (req.http.X-Edge-Step == "verdict") {
        # Back to the student's request: let in for the course, or passed to an origin.
        set req.url = req.http.X-Grant-Url;
        if (resp.status == 200) {
            set req.http.X-Edge-Grant = req.http.X-Grant-Course;
            set req.http.X-Edge-Step = "enrolled";
        } else {
            set req.http.X-Edge-Step = "pass";
        }
        unset req.http.X-Grant-Url;
        unset req.http.X-Grant-Course;
        return (restart);
    }
    # An enrolled answer any cache kept (not the private one an origin gave this request
    # after checking its grant) goes only to a request let in for the same course, and
    # tells the browser what the origin tells it for the course's pages.
    if (resp.http.X-Course-Scope) {
        if (resp.http.Cache-Control !~ "(?i)(^|[,\s])private\b") {
            if (resp.http.X-Course-Scope != req.http.X-Edge-Grant) {
                return (synth(403, "Forbidden"));
            }
            if (resp.http.X-Viewer-Cache-Control) {
                set resp.http.Cache-Control = resp.http.X-Viewer-Cache-Control;
            } else {
                set resp.http.Cache-Control = "private, no-cache";
            }
        }
        unset resp.http.X-Viewer-Cache-Control;
    }
    if (resp.http.Vary) {
        set resp.http.Vary = regsuball(resp.http.Vary, "(^|,\s*)(X-Encoding|X-Origin-Verify)\b", "");
        if (resp.http.Vary == "") {
            unset resp.http.Vary;
        }
    }
    # Debug headers; operators may strip them.
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    set resp.http.X-Cache-TTL = obj.ttl;
}
