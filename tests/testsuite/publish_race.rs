//! Concurrent `course publish` runs of the same channel against a real Garage, which
//! ignores If-Match: of any number of publishers starting from the same pointer, exactly
//! one wins each sequence, every other one fails naming the winner, and no release is
//! lost silently. The interleavings are forced with `COURSE_PUBLISH_PAUSE=<step>:<file>`
//! (the publisher creates `<file>.reached` at the step and waits there until `<file>`
//! exists), so they do not depend on timing luck.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::garage::{Garage, BUCKET, REGION};
use e2e::proxy::Proxy;
use e2e::publishing::{pause_files, variant, wait_for_file, Finished, Running};
use e2e::{build_ok, sample_content};

const PREFIX: &str = "site";
const PAUSE_ENV: &str = "COURSE_PUBLISH_PAUSE";

fn publish_args<'a>(garage: &'a Garage, from: &'a Path) -> Vec<&'a str> {
    vec![
        "publish",
        "--store",
        "s3://courses/site",
        "--endpoint",
        &garage.endpoint,
        "--region",
        REGION,
        "--from",
        from.to_str().expect("utf-8 path"),
    ]
}

/// Starts `course publish --from <from>`, paused at `pause` (`<step>:<file>`) if given.
fn start_publish(name: &str, garage: &Garage, from: &Path, pause: Option<String>) -> Running {
    let mut env = garage.env();
    if let Some(pause) = pause {
        env.push((PAUSE_ENV, pause));
    }
    Running::start(name, &publish_args(garage, from), &env)
}

/// The remote pointer `channels/live.json` as JSON (`None` when there is none).
fn pointer(garage: &Garage) -> serde_json::Value {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = garage.client().await;
        let object = client
            .get_object()
            .bucket(BUCKET)
            .key(format!("{PREFIX}/channels/live.json"))
            .send()
            .await
            .expect("get the pointer");
        let bytes = object.body.collect().await.expect("body").into_bytes();
        serde_json::from_slice(&bytes).expect("pointer json")
    })
}

/// The claims under `channels/live.claims/<sequence>/`, each as `<release>.json`: claim
/// files are named `<release>.<nonce>.json` (unique per flip), and what the tests check
/// is which releases hold a claim.
fn claims(garage: &Garage, sequence: u64) -> Vec<String> {
    claim_files(garage, sequence)
        .iter()
        .map(|name| format!("{}.json", name.split('.').next().unwrap_or_default()))
        .collect()
}

/// The claim file names under `channels/live.claims/<sequence>/`.
fn claim_files(garage: &Garage, sequence: u64) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = garage.client().await;
        let dir = format!("{PREFIX}/channels/live.claims/{sequence}/");
        let listed = client.list_objects_v2().bucket(BUCKET).prefix(&dir).send().await.expect("list claims");
        listed.contents().iter().filter_map(|o| o.key()?.strip_prefix(&dir)).map(str::to_owned).collect()
    })
}

fn show(finished: &Finished) -> String {
    format!(
        "{} ({}):\n{}{}",
        finished.name,
        if finished.success { "ok" } else { "failed" },
        finished.stdout,
        finished.stderr
    )
}

/// The interleaving: A claims the next sequence and checks (sees no rival), then
/// stalls just before its pointer write; B, with the smaller release id, claims, lists
/// and sees A's claim. With "the smallest id wins" B went on and both wrote the pointer:
/// both reported success and A's release silently replaced B's. Now B must wait for A
/// (A's claim is alive) and, once A has flipped, fail naming A.
#[test]
fn a_stalled_flip_is_never_overtaken_by_a_smaller_release_id() {
    let garage = Garage::start();
    let base = tempfile::tempdir().expect("tempdir");
    let first = build_ok(&sample_content(), base.path());
    let out = Running::start("first", &publish_args(&garage, base.path()), &garage.env())
        .finish(Duration::from_secs(120));
    assert!(out.success, "{}", show(&out));

    let (store_x, x) = variant(base.path(), "x");
    let (store_y, y) = variant(base.path(), "y");
    // B's release id is the smaller one.
    let ((a_store, a), (b_store, b)) =
        if x > y { ((store_x, x), (store_y, y)) } else { ((store_y, y), (store_x, x)) };
    assert!(b < a);

    let dir = tempfile::tempdir().expect("tempdir");
    let (go, reached) = pause_files(dir.path(), "a-go");
    let mut publisher_a =
        start_publish("A", &garage, a_store.path(), Some(format!("checked:{}", go.display())));
    wait_for_file(&reached, Duration::from_secs(120), &mut publisher_a);

    // B runs until it finished (the old rule: it went ahead) or it reports backing off
    // from A's claim.
    let mut publisher_b = start_publish("B", &garage, b_store.path(), None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !publisher_b.exited() && !publisher_b.stderr().contains("backing off") {
        assert!(Instant::now() < deadline, "B neither finished nor backed off:\n{}", publisher_b.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(&go, b"go").expect("let A go on");
    let (a_out, b_out) =
        (publisher_a.finish(Duration::from_secs(120)), publisher_b.finish(Duration::from_secs(120)));
    eprintln!("{}\n{}", show(&a_out), show(&b_out));

    assert!(a_out.success, "A held the claim and wins: {}", show(&a_out));
    assert!(
        !b_out.success,
        "exactly one publish wins the sequence; B reported success too: {}",
        show(&b_out)
    );
    assert!(a_out.stdout.contains(&format!("release {a} (was {first}): now live")), "{}", show(&a_out));
    assert!(b_out.stderr.contains("another publish to channel live"), "{}", show(&b_out));
    assert!(b_out.stderr.contains(&a), "B's error names the release that won: {}", show(&b_out));
    let live = pointer(&garage);
    assert_eq!(live["release"], a.as_str());
    assert_eq!(live["previous"], first.as_str());
    assert_eq!(live["sequence"], 2);
    assert_eq!(claims(&garage, 2), vec![format!("{a}.json")], "B withdrew its claim");
}

/// A publisher stalls after its checks for longer than claims stay alive (60 s): a rival
/// rightly takes its claim for a dead publisher's, ignores it and wins. When the stalled
/// one wakes, its lease (10 s from its claim) has run out: it must not write (before, it
/// did, silently replacing the rival's release), but start again, find the pointer moved
/// and fail naming the rival. Takes over a minute by nature.
#[test]
fn a_flip_stalled_past_its_lease_never_writes() {
    let garage = Garage::start();
    let base = tempfile::tempdir().expect("tempdir");
    let first = build_ok(&sample_content(), base.path());
    let out = Running::start("first", &publish_args(&garage, base.path()), &garage.env())
        .finish(Duration::from_secs(120));
    assert!(out.success, "{}", show(&out));
    let (a_store, a) = variant(base.path(), "stalled");
    let (b_store, b) = variant(base.path(), "rival");

    let dir = tempfile::tempdir().expect("tempdir");
    let (go, reached) = pause_files(dir.path(), "a-go");
    let mut publisher_a =
        start_publish("A", &garage, a_store.path(), Some(format!("checked:{}", go.display())));
    wait_for_file(&reached, Duration::from_secs(120), &mut publisher_a);
    std::thread::sleep(Duration::from_secs(62));
    let b_out = start_publish("B", &garage, b_store.path(), None).finish(Duration::from_secs(120));
    assert!(b_out.success, "B ignores the stale claim and wins: {}", show(&b_out));
    assert!(b_out.stdout.contains(&format!("release {b} (was {first}): now live")), "{}", show(&b_out));

    std::fs::write(&go, b"go").expect("let A go on");
    let a_out = publisher_a.finish(Duration::from_secs(120));
    eprintln!("{}\n{}", show(&a_out), show(&b_out));
    assert!(!a_out.success, "A's lease ran out, so it must not write: {}", show(&a_out));
    assert!(a_out.stderr.contains("lease ran out"), "{}", show(&a_out));
    assert!(
        a_out.stderr.contains("another publish to channel live won") && a_out.stderr.contains(&b),
        "{}",
        show(&a_out)
    );
    let live = pointer(&garage);
    assert_eq!((live["release"].as_str(), live["sequence"].as_u64()), (Some(b.as_str()), Some(2)));
    assert_eq!(claims(&garage, 2), vec![format!("{b}.json")], "the winner deleted the stale claim");
    assert_ne!(a, b);
}

/// Five publishers of five different releases start from the same pointer (all paused
/// after reading it, then let go at once), three rounds in a row: each round exactly one
/// wins, every other one fails naming it, the winners form the chain of `previous`
/// pointers, and the final pointer is the last winner.
#[test]
fn many_concurrent_publishers_one_winner_per_sequence() {
    const PUBLISHERS: usize = 5;
    const ROUNDS: u64 = 3;
    let garage = Garage::start();
    let base = tempfile::tempdir().expect("tempdir");
    let first = build_ok(&sample_content(), base.path());
    let out = Running::start("first", &publish_args(&garage, base.path()), &garage.env())
        .finish(Duration::from_secs(120));
    assert!(out.success, "{}", show(&out));

    let dir = tempfile::tempdir().expect("tempdir");
    let mut winners = vec![first.clone()];
    for round in 1..=ROUNDS {
        let stores: Vec<(tempfile::TempDir, String)> =
            (0..PUBLISHERS).map(|i| variant(base.path(), &format!("r{round}-p{i}"))).collect();
        let mut running = Vec::new();
        let mut gates = Vec::new();
        for (i, (store, _)) in stores.iter().enumerate() {
            let (go, reached) = pause_files(dir.path(), &format!("r{round}-p{i}"));
            let name = format!("round {round} publisher {i}");
            running.push(start_publish(
                &name,
                &garage,
                store.path(),
                Some(format!("listed:{}", go.display())),
            ));
            gates.push((go, reached));
        }
        for (publisher, (_, reached)) in running.iter_mut().zip(&gates) {
            wait_for_file(reached, Duration::from_secs(120), publisher);
        }
        for (go, _) in &gates {
            std::fs::write(go, b"go").expect("let it go on");
        }
        let finished: Vec<Finished> =
            running.into_iter().map(|r| r.finish(Duration::from_secs(180))).collect();
        let all = finished.iter().map(show).collect::<Vec<_>>().join("\n");

        let won: Vec<usize> = (0..PUBLISHERS).filter(|&i| finished[i].success).collect();
        assert_eq!(won.len(), 1, "round {round}: exactly one winner:\n{all}");
        let winner = stores[won[0]].1.clone();
        let previous = winners.last().expect("a previous winner").clone();
        assert!(
            finished[won[0]].stdout.contains(&format!("release {winner} (was {previous}): now live")),
            "round {round}:\n{all}"
        );
        for (i, lost) in finished.iter().enumerate().filter(|(i, _)| *i != won[0]) {
            assert!(lost.stderr.contains("another publish to channel live"), "round {round} #{i}:\n{all}");
            assert!(lost.stderr.contains(&winner), "round {round} #{i} names the winner {winner}:\n{all}");
        }
        let live = pointer(&garage);
        assert_eq!(live["release"], winner.as_str(), "round {round}");
        assert_eq!(live["previous"], previous.as_str(), "round {round}: the chain is consistent");
        assert_eq!(live["sequence"], round + 1, "round {round}");
        assert_eq!(
            claims(&garage, round + 1),
            vec![format!("{winner}.json")],
            "round {round}: losers withdrew"
        );
        eprintln!("round {round}: {winner} won, {} lost", PUBLISHERS - 1);
        winners.push(winner);
    }
    assert_eq!(pointer(&garage)["release"], winners.last().expect("winners").as_str());

    // The history is the winners' chain, newest first.
    let history = Running::start(
        "releases",
        &["releases", "--store", "s3://courses/site", "--endpoint", &garage.endpoint, "--region", REGION],
        &garage.env(),
    )
    .finish(Duration::from_secs(60));
    assert!(history.success, "{}", show(&history));
    let listed: Vec<&str> = history
        .stdout
        .lines()
        .filter(|l| l.starts_with("live "))
        .map(|l| l.split_whitespace().nth(2).expect("a release column"))
        .collect();
    let expected: Vec<&str> = winners.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, expected, "{}", history.stdout);
}

/// Runs `course <command> --store s3://courses/site --endpoint <garage> --region ..` `args`.
fn course(garage: &Garage, name: &str, command: &str, args: &[&str]) -> Finished {
    let mut all =
        vec![command, "--store", "s3://courses/site", "--endpoint", &garage.endpoint, "--region", REGION];
    all.extend_from_slice(args);
    Running::start(name, &all, &garage.env()).finish(Duration::from_secs(180))
}

/// Whether the store holds `key` (relative to the `site` prefix).
fn has_key(garage: &Garage, key: &str) -> bool {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = garage.client().await;
        client.head_object().bucket(BUCKET).key(format!("{PREFIX}/{key}")).send().await.is_ok()
    })
}

/// Whether the manifest of `release` and every object it names are in the store.
fn release_is_whole(garage: &Garage, release: &str, store: &Path) -> bool {
    let bytes = std::fs::read(store.join(format!("releases/{release}.json"))).expect("the local manifest");
    let manifest = bundle::Manifest::from_bytes(&bytes).expect("manifest");
    has_key(garage, &format!("releases/{release}.json"))
        && manifest.objects().iter().all(|key| has_key(garage, &format!("objects/{key}")))
}

/// F2: the store holds X's pointer write (a proxy keeps `PUT .../channels/live.json` for
/// 25 s, then forwards it, after X gave up waiting at the end of its 10 s lease). Before,
/// X then withdrew its claim and failed ("re-run"), Y (straight to the store) found no
/// rival and reported "now live", and 15 s later X's held write landed over Y's: Y's
/// release was gone although Y said it was live. Now X keeps its claim while the outcome
/// is unknown: Y backs off, X sees its write land and reports it, Y fails naming X.
#[test]
fn a_pointer_write_held_past_the_lease_never_loses_a_rivals_release() {
    let garage = Garage::start();
    let base = tempfile::tempdir().expect("tempdir");
    let first = build_ok(&sample_content(), base.path());
    let out = Running::start("first", &publish_args(&garage, base.path()), &garage.env())
        .finish(Duration::from_secs(120));
    assert!(out.success, "{}", show(&out));
    let (x_store, x) = variant(base.path(), "held");
    let (y_store, y) = variant(base.path(), "direct");

    let proxy = Proxy::start(&garage.endpoint);
    proxy.hold(&format!("PUT /{BUCKET}/{PREFIX}/channels/live.json"), Duration::from_secs(25));
    let mut x_args = publish_args(&garage, x_store.path());
    let endpoint = x_args.iter().position(|a| *a == "--endpoint").expect("--endpoint") + 1;
    x_args[endpoint] = &proxy.base;
    let mut publisher_x = Running::start("X", &x_args, &garage.env());
    let deadline = Instant::now() + Duration::from_secs(120);
    while proxy.held().0 == 0 {
        assert!(!publisher_x.exited(), "X ended before its pointer write:\n{}", publisher_x.stderr());
        assert!(Instant::now() < deadline, "X never wrote the pointer:\n{}", publisher_x.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Past X's lease: X no longer waits for its write's answer.
    std::thread::sleep(Duration::from_secs(11));
    let y_out = start_publish("Y", &garage, y_store.path(), None).finish(Duration::from_secs(120));
    let x_out = publisher_x.finish(Duration::from_secs(120));
    proxy.wait_released(proxy.held().0, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(1));
    eprintln!("{}\n{}\nheld {:?}", show(&x_out), show(&y_out), proxy.held());

    let live = pointer(&garage);
    assert!(!y_out.success, "Y's release would be replaced by X's held write: {}", show(&y_out));
    assert!(
        y_out.stderr.contains("another publish to channel live") && y_out.stderr.contains(&x),
        "{}",
        show(&y_out)
    );
    assert!(x_out.success, "X's write landed, and X says so: {}", show(&x_out));
    assert!(x_out.stdout.contains(&format!("release {x} (was {first}): now live")), "{}", show(&x_out));
    assert_eq!(live["release"], x.as_str());
    assert_eq!(live["previous"], first.as_str());
    assert_eq!(live["sequence"], 2);
    assert_eq!(claims(&garage, 2), vec![format!("{x}.json")], "X's claim is the history, Y withdrew");
    assert_ne!(x, y);
}

/// F3: two publishes of the same release R. A claims and lists (and stalls there), B
/// claims the same sequence. Both used the claim key `claims/2/<R>.json`, so B saw no
/// rival and won, and A, finding R live, withdrew "its" claim, which was B's: the history
/// lost sequence 2, `gc --keep 2` deleted R (the pointer's `previous` after the next
/// publish) and `course rollback` failed. Now each flip has its own claim name: B backs
/// off from A's claim, A wins, B finds R live and withdraws only its own claim.
#[test]
fn two_publishes_of_one_release_keep_the_winners_claim() {
    let garage = Garage::start();
    let base = tempfile::tempdir().expect("tempdir");
    let first = build_ok(&sample_content(), base.path());
    let out = Running::start("first", &publish_args(&garage, base.path()), &garage.env())
        .finish(Duration::from_secs(120));
    assert!(out.success, "{}", show(&out));
    let (store, release) = variant(base.path(), "twice");

    let dir = tempfile::tempdir().expect("tempdir");
    let (go, reached) = pause_files(dir.path(), "a-go");
    let mut publisher_a =
        start_publish("A", &garage, store.path(), Some(format!("claims-listed:{}", go.display())));
    wait_for_file(&reached, Duration::from_secs(120), &mut publisher_a);
    let mut publisher_b = start_publish("B", &garage, store.path(), None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !publisher_b.exited() && !publisher_b.stderr().contains("backing off") {
        assert!(Instant::now() < deadline, "B neither finished nor backed off:\n{}", publisher_b.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(&go, b"go").expect("let A go on");
    let (a_out, b_out) =
        (publisher_a.finish(Duration::from_secs(120)), publisher_b.finish(Duration::from_secs(120)));
    eprintln!("{}\n{}", show(&a_out), show(&b_out));
    assert!(a_out.success && b_out.success, "both end with R live:\n{}\n{}", show(&a_out), show(&b_out));
    let now_live = [&a_out, &b_out].iter().filter(|o| o.stdout.contains("now live")).count();
    assert_eq!(now_live, 1, "one of them flipped:\n{}\n{}", show(&a_out), show(&b_out));
    let live = pointer(&garage);
    assert_eq!((live["release"].as_str(), live["sequence"].as_u64()), (Some(release.as_str()), Some(2)));
    assert_eq!(
        claims(&garage, 2),
        vec![format!("{release}.json")],
        "the winner's claim stays: {:?}",
        claim_files(&garage, 2)
    );

    // What the lost claim broke: after one more publish, `gc --keep 2` keeps R (the
    // rollback target) and the rollback works.
    let (third_store, third) = variant(base.path(), "third");
    let out = start_publish("third", &garage, third_store.path(), None).finish(Duration::from_secs(120));
    assert!(out.success, "{}", show(&out));
    let history = course(&garage, "releases", "releases", &[]);
    assert!(history.success, "{}", show(&history));
    let listed: Vec<&str> = history
        .stdout
        .lines()
        .filter(|l| l.starts_with("live "))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(listed, [third.as_str(), release.as_str(), first.as_str()], "{}", history.stdout);
    let gc = course(&garage, "gc", "gc", &["--keep", "2", "--grace", "0s"]);
    assert!(gc.success, "{}", show(&gc));
    assert!(release_is_whole(&garage, &release, store.path()), "gc kept R: {}", show(&gc));
    let rollback = course(&garage, "rollback", "rollback", &[]);
    assert!(rollback.success, "{}", show(&rollback));
    assert!(rollback.stdout.contains(&format!("channel live: {third} -> {release}")), "{}", show(&rollback));
}

/// F4: gc runs while a publish has uploaded and verified its release and claimed the next
/// sequence (paused right after listing the claims). Before, `gc --keep 0 --grace 0s`
/// deleted the new release's manifest and objects, and the publish then flipped to it:
/// "now live", and origins answered 503 for everything. Now gc keeps every release a
/// fresh claim above its channel's pointer names. And a flip whose manifest vanished
/// after its checks (as a gc that listed the claims just before the claim could do)
/// gives up before writing the pointer.
#[test]
fn gc_spares_a_publish_in_flight_and_a_flip_refuses_a_vanished_release() {
    let garage = Garage::start();
    let base = tempfile::tempdir().expect("tempdir");
    let first = build_ok(&sample_content(), base.path());
    let out = Running::start("first", &publish_args(&garage, base.path()), &garage.env())
        .finish(Duration::from_secs(120));
    assert!(out.success, "{}", show(&out));
    let (store, release) = variant(base.path(), "in-flight");

    let dir = tempfile::tempdir().expect("tempdir");
    let (go, reached) = pause_files(dir.path(), "go1");
    let mut publisher =
        start_publish("P", &garage, store.path(), Some(format!("claims-listed:{}", go.display())));
    wait_for_file(&reached, Duration::from_secs(120), &mut publisher);
    let gc = course(&garage, "gc", "gc", &["--keep", "0", "--grace", "0s"]);
    assert!(gc.success, "{}", show(&gc));
    std::fs::write(&go, b"go").expect("let the publish go on");
    let out = publisher.finish(Duration::from_secs(120));
    eprintln!("{}\n{}", show(&gc), show(&out));
    assert!(out.success, "{}", show(&out));
    assert!(out.stdout.contains(&format!("release {release} (was {first}): now live")), "{}", show(&out));
    assert!(
        release_is_whole(&garage, &release, store.path()),
        "the live release lost its manifest or objects: {}",
        show(&gc)
    );

    // The manifest goes after the publish checked it, before its pointer write.
    let (next_store, next) = variant(base.path(), "vanished");
    let (go, reached) = pause_files(dir.path(), "go2");
    let mut publisher =
        start_publish("Q", &garage, next_store.path(), Some(format!("checked:{}", go.display())));
    wait_for_file(&reached, Duration::from_secs(120), &mut publisher);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = garage.client().await;
        let key = format!("{PREFIX}/releases/{next}.json");
        client.delete_object().bucket(BUCKET).key(key).send().await.expect("delete the manifest");
    });
    std::fs::write(&go, b"go").expect("let the publish go on");
    let out = publisher.finish(Duration::from_secs(120));
    eprintln!("{}", show(&out));
    assert!(!out.success, "a flip to a release without a manifest: {}", show(&out));
    assert!(out.stderr.contains("no longer in the store"), "{}", show(&out));
    let live = pointer(&garage);
    assert_eq!((live["release"].as_str(), live["sequence"].as_u64()), (Some(release.as_str()), Some(2)));
    assert!(claims(&garage, 3).is_empty(), "the flip withdrew its claim: {:?}", claim_files(&garage, 3));
}

/// F5: a rollback paused after claiming while `gc --keep 1 --grace 0s` runs: before, gc
/// kept only the live release, deleted the rollback target's manifest and objects, and
/// the rollback flipped to a release with 0 routes. Now the claim keeps it.
#[test]
fn gc_spares_the_release_a_rollback_in_flight_flips_to() {
    let garage = Garage::start();
    let base = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), base.path());
    let out = Running::start("first", &publish_args(&garage, base.path()), &garage.env())
        .finish(Duration::from_secs(120));
    assert!(out.success, "{}", show(&out));
    // Two variants: each names a page the other does not.
    let (a_store, a) = variant(base.path(), "a");
    let (b_store, b) = variant(base.path(), "b");
    for (name, store) in [("A", &a_store), ("B", &b_store)] {
        let out = start_publish(name, &garage, store.path(), None).finish(Duration::from_secs(120));
        assert!(out.success, "{}", show(&out));
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let (go, reached) = pause_files(dir.path(), "go3");
    let mut env = garage.env();
    env.push((PAUSE_ENV, format!("claims-listed:{}", go.display())));
    let args = [
        "rollback",
        "--store",
        "s3://courses/site",
        "--endpoint",
        garage.endpoint.as_str(),
        "--region",
        REGION,
    ];
    let mut rollback = Running::start("rollback", &args, &env);
    wait_for_file(&reached, Duration::from_secs(120), &mut rollback);
    let gc = course(&garage, "gc", "gc", &["--keep", "1", "--grace", "0s"]);
    assert!(gc.success, "{}", show(&gc));
    std::fs::write(&go, b"go").expect("let the rollback go on");
    let out = rollback.finish(Duration::from_secs(120));
    eprintln!("{}\n{}", show(&gc), show(&out));
    assert!(out.success, "{}", show(&out));
    assert!(out.stdout.contains(&format!("channel live: {b} -> {a}")), "{}", show(&out));
    let live = pointer(&garage);
    assert_eq!((live["release"].as_str(), live["sequence"].as_u64()), (Some(a.as_str()), Some(4)));
    assert!(release_is_whole(&garage, &a, a_store.path()), "gc deleted the rollback's target: {}", show(&gc));
    assert!(release_is_whole(&garage, &b, b_store.path()), "b was live while gc ran");
}
