use crate::support::{assert_valid_junit, run};

#[tiered::test(tier = 3, timeout = "15m")]
fn control_characters_and_invalid_utf8_keep_junit_valid() {
    let r = run("control-chars", &[]);
    assert_eq!(r.code, 1, "stderr:\n{}", r.stderr);
    assert_valid_junit(&r.junit_path());
    let xml = r.junit();
    assert!(!xml.contains('\u{0}') && !xml.contains('\u{1b}'));
    assert!(xml.contains("nul:\\u{0} esc:\\u{1b}[31mred"), "{xml}");
    assert!(xml.contains("\u{fffd}"), "invalid UTF-8 becomes U+FFFD");
    assert!(xml.contains("]]> done") || xml.contains("]]]]><![CDATA[> done"));
    assert!(xml.contains("in-process \\u{0}\\u{1b}[2J"), "{xml}");
    // JSON carries the text as it was (JSON escapes it).
    let t = r.test("prints_control_characters");
    assert!(t["stdout"].as_str().unwrap().contains("\u{1b}[31mred"));
    // The terminal never receives raw escapes from a test.
    assert!(!r.stderr.contains("\u{1b}[2J"), "terminal got a raw escape");
}
