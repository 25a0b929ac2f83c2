//! Concurrent `course publish` runs of the same channel against a real Garage, which
//! ignores If-Match: of any number of publishers starting from the same pointer, exactly
//! one wins each sequence, every other one fails naming the winner, and no release is
//! lost silently. The interleavings are forced with `COURSE_PUBLISH_PAUSE=<step>:<file>`
//! (the publisher creates `<file>.reached` at the step and waits there until `<file>`
//! exists), so they do not depend on timing luck.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::garage::{Garage, BUCKET, REGION};
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

/// The claim file names under `channels/live.claims/<sequence>/`.
fn claims(garage: &Garage, sequence: u64) -> Vec<String> {
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
