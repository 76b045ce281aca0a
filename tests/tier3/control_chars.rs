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
    // Ten megabytes of output are kept to 1 MiB per stream, with a marker,
    // in the JSON report and in the JUnit file, which stays small.
    let big = r.test("prints_ten_megabytes");
    let kept = big["stdout"].as_str().unwrap();
    assert!(kept.len() < (1 << 20) + 200, "{}", kept.len());
    assert!(
        kept.ends_with("more bytes]") && kept.contains("[tiered: output truncated, "),
        "{}",
        &kept[kept.len() - 100..]
    );
    let size = std::fs::metadata(r.junit_path()).unwrap().len();
    assert!(size < 3 << 20, "JUnit is {size} bytes");
    assert!(xml.contains("[tiered: output truncated, "));
}
