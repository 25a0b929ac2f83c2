//! The shortened spike end to end: the sample catalogue on a fleet of one Garage, three
//! origins and two Varnish edges; students rise tenfold within seconds; at the peak a
//! one-lesson fix is published and an origin is `kill -9`ed and restarted. Students see
//! no error, no page names a sub-resource of another release, and the fix is served by
//! every edge and origin within 3 s of `course publish` returning.

use std::time::Duration;

use fleet::replay::Cause;
use fleet::scenario::{self, Scenario};

#[test]
fn a_short_spike_with_a_fix_and_an_origin_killed_shows_students_no_errors() {
    let mut spike = Scenario::spike(3, Duration::from_secs(20), true);
    spike.fleet.students = 50;
    let report = scenario::run(&spike, &e2e::sample_content()).expect("the scenario runs");
    let table = fleet::table::markdown(&report);
    eprintln!("{table}");
    let r = &report.replay;
    assert!(r.students.total > 30, "students came: {}", r.students.total);
    assert!(r.students.enrolled_pages_opened > 0, "enrolled pages were opened with grants");
    assert_eq!(r.errors_total, 0, "student-visible errors: {:?} {:?}", r.errors_by_cause, r.error_samples);
    assert_eq!(r.errors_by_cause.get(&Cause::MixedRelease), None);
    let publish = report.events.iter().find(|e| e.what.starts_with("publish")).expect("a publish");
    let served =
        publish.served_everywhere_secs.unwrap_or_else(|| panic!("fix not served everywhere: {publish:?}"));
    assert!(served < 3.0, "the fix was served everywhere {served:.2} s after publish returned");
    assert!(report.events.iter().any(|e| e.what.starts_with("kill -9")), "{:?}", report.events);
    // The release the fix made is what the students saw last.
    let newest =
        r.releases.iter().max_by(|a, b| a.seen.first_s.total_cmp(&b.seen.first_s)).expect("releases");
    assert!(r.releases.len() >= 2, "students saw the fix's release: {:?}", r.releases);
    assert!(newest.seen.pages > 0);
}
