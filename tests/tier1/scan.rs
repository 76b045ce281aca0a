use std::path::Path;

use tiered::scan::{scan_source, scan_target};

#[tiered::test(tier = 1)]
fn finds_tests_with_their_tiers_and_module_paths() {
    let src = r#"
        #[tiered::test(tier = 1)]
        fn top() {}

        #[test]
        fn plain_libtest() {}

        mod inner {
            #[tiered::test(tier = 2, tags = ["db"], timeout = "1s")]
            async fn nested() {}
            mod deeper {
                #[tiered::test(ignore = "x", tier = 3)]
                fn deepest() {}
            }
        }

        #[tiered::test]
        fn no_tier() {}
    "#;
    let r = scan_source(src, Path::new("/nonexistent/main.rs"));
    let found: Vec<(&str, Option<u8>, usize)> = r
        .tests
        .iter()
        .map(|t| (t.name.as_str(), t.tier, t.line))
        .collect();
    assert_eq!(
        found,
        [
            ("top", Some(1), 3),
            ("inner::nested", Some(2), 10),
            ("inner::deeper::deepest", Some(3), 13),
            ("no_tier", None, 18),
        ]
    );
    assert!(r.problems.is_empty());
}

#[tiered::test(tier = 1)]
fn follows_module_files_like_rustc() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("suite");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::create_dir_all(root.join("m")).unwrap();
    std::fs::write(
        root.join("main.rs"),
        "mod a; mod m; #[path = \"other/x.rs\"] mod renamed;",
    )
    .unwrap();
    // a.rs is not a mod.rs file, so its children live in a/.
    std::fs::write(
        root.join("a.rs"),
        "mod b;\n#[tiered::test(tier = 1)] fn in_a() {}",
    )
    .unwrap();
    std::fs::write(
        root.join("a/b.rs"),
        "#[tiered::test(tier = 2)] fn in_b() {}",
    )
    .unwrap();
    std::fs::write(
        root.join("m/mod.rs"),
        "#[tiered::test(tier = 1)] fn in_m() {}",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("other")).unwrap();
    std::fs::write(
        root.join("other/x.rs"),
        "#[tiered::test(tier = 3)] fn in_x() {}",
    )
    .unwrap();
    let r = scan_target(&root.join("main.rs"));
    let mut names: Vec<&str> = r.tests.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["a::b::in_b", "a::in_a", "m::in_m", "renamed::in_x"]);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}

#[tiered::test(tier = 1)]
fn a_missing_module_or_a_syntax_error_is_a_problem_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("main.rs");
    std::fs::write(&main, "mod gone;\n#[tiered::test(tier = 1)] fn kept() {}").unwrap();
    let r = scan_target(&main);
    assert_eq!(r.tests.len(), 1);
    assert!(r.problems[0].message.contains("module `gone` not found"));
    let r = scan_source("fn broken( {", &main);
    assert!(r.tests.is_empty());
    assert_eq!(r.problems.len(), 1);
}

#[tiered::test(tier = 1)]
fn a_type_error_still_declares_its_tests() {
    let r = scan_source(
        "#[tiered::test(tier = 1)] fn wrong() { let x: u32 = \"no\"; }",
        Path::new("x/main.rs"),
    );
    assert_eq!(r.tests.len(), 1);
}

#[tiered::test(tier = 1)]
fn this_projects_own_tier1_suite_declares_this_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tier1/main.rs");
    let r = scan_target(&root);
    assert!(r
        .tests
        .iter()
        .any(|t| t.name == "scan::this_projects_own_tier1_suite_declares_this_test"));
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}
