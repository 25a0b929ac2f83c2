# Varnish in front of edge-origin (Varnish 7.x).
#   varnishd -a :80 -f /etc/varnish/varnish.vcl -s malloc,1g
# Caching follows the origin's Cache-Control; this file only adds what a shared cache
# in front of a course site needs. Test: tests/tests/origin_varnish.rs.
vcl 4.1;

import std;

backend origin {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    .first_byte_timeout = 10s;
    .between_bytes_timeout = 10s;
    # Ready (not just alive): 200 only once a release is loaded.
    .probe = {
        .url = "/_origin/ready";
        .interval = 2s;
        .timeout = 1s;
        .window = 5;
        .threshold = 3;
    }
}

# Who may PURGE: the publish step runs on this host.
acl purgers {
    "localhost";
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    call drop_forged_origin_verify;
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(405, "Not allowed"));
        }
        # Removes every object of the URL: all its Vary variants (encodings).
        return (purge);
    }
    # The origin only serves GET/HEAD; anything else goes to it uncached (it answers 405).
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # Signed grants (CloudFront-style query or cookies) are per-student and the origin
    # checks them for enrolled pages: never answer or store such requests here.
    if (req.url ~ "[?&](Policy|Signature|Key-Pair-Id|Expires)=" ||
        req.http.Cookie ~ "(^|;)\s*CloudFront-(Policy|Signature|Key-Pair-Id)=") {
        return (pass);
    }
    # The site is static: other cookies (analytics etc.) must not split or bypass the cache,
    # and no query string changes an answer (the origin ignores them), so none may make
    # the cache keep one more copy of a page (`?cb=1`, `?cb=2`...).
    unset req.http.Cookie;
    set req.url = regsub(req.url, "\?.*$", "");

    call normalise_encoding;

    # While the origin is healthy, serve stale for at most its stale-while-revalidate
    # (60s) and refresh in the background; when it is sick, the full grace (24h) applies,
    # which is its stale-if-error.
    if (std.healthy(req.backend_hint)) {
        set req.grace = 60s;
    }
    # Fall through to the builtin vcl_recv (Host lowercasing, Authorization -> pass).
}

# X-Origin-Verify proves a request came through the CDN in front of this edge. Only the
# CDN's copy, carrying the shared secret, may reach the origin: any other value is dropped,
# so a client can neither fake it nor make the cache keep one more copy of a page per value
# it sends (objects vary on this header, see vcl_backend_response).
sub drop_forged_origin_verify {
    # Deploy: put edge-origin's --origin-verify-secret between these quotes. Left empty
    # (no CDN in front of this edge), the header is always dropped.
    set req.http.X-Expected-Origin-Verify = "";
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
# copies of a page by sending Host values (the origin's answers do not depend on Host, and
# requests with grants, which it checks against the host, are passed, never cached).
sub vcl_hash {
    hash_data(req.url);
    return (lookup);
}

sub vcl_backend_fetch {
    # Ask the origin for exactly the client's encoding (Varnish would force gzip).
    if (bereq.http.X-Encoding == "identity") {
        unset bereq.http.Accept-Encoding;
    } else {
        set bereq.http.Accept-Encoding = bereq.http.X-Encoding;
    }
    # X-Encoding stays: Varnish builds the object's Vary key from this request.
}

sub vcl_backend_response {
    # A failed background refresh keeps the stale object (stale-if-error).
    if (beresp.status >= 500 && bereq.is_bgfetch) {
        return (abandon);
    }
    if (bereq.uncacheable) {
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
    # Same for an unreachable origin during a background refresh.
    if (bereq.is_bgfetch) {
        return (abandon);
    }
}

sub vcl_deliver {
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
