use std::collections::BTreeMap;

use tiered::config::MockingConfig;
use tiered::mocking::{check, Target};

fn target(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn found(dir: &tempfile::TempDir, deps: &[(&str, &str)], config: &MockingConfig) -> Vec<String> {
    let root = dir.path().join("main.rs");
    let t = Target {
        name: "suite",
        root: &root,
        deps: deps
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    };
    check(&[t], config)
        .iter()
        .map(|f| {
            let file = f.file.file_name().unwrap().to_string_lossy().into_owned();
            format!(
                "{file}:{} {}{}",
                f.line,
                f.krate,
                f.allowed
                    .as_ref()
                    .map(|r| format!(" allowed: {r}"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

#[tiered::test(tier = 1)]
fn every_kind_of_use_in_tier_two_is_found_with_its_line() {
    let dir = target(&[(
        "main.rs",
        "use mockall::predicate::*;\n\
         extern crate wiremock;\n\
         #[mockall::automock]\n\
         trait Db {}\n\
         #[tiered::test(tier = 2)]\n\
         fn t() { let _s = mockito::Server::new(); faux::when!(x); }\n\
         fn uses_string() { let _ = \"mockall in a string is not a use\"; }\n",
    )]);
    assert_eq!(
        found(&dir, &[], &MockingConfig::default()),
        [
            "main.rs:1 mockall",
            "main.rs:2 wiremock",
            "main.rs:3 mockall",
            "main.rs:6 mockito",
            "main.rs:6 faux"
        ]
    );
}

#[tiered::test(tier = 1)]
fn a_renamed_dependency_is_found_by_its_package() {
    let dir = target(&[(
        "main.rs",
        "use fake::mock;\n#[tiered::test(tier = 3)]\nfn t() {}\n",
    )]);
    assert_eq!(
        found(&dir, &[("fake", "mockall")], &MockingConfig::default()),
        ["main.rs:1 mockall"]
    );
}

#[tiered::test(tier = 1)]
fn tier_one_files_may_mock_and_tier_one_targets_are_not_checked() {
    let dir = target(&[
        (
            "main.rs",
            "mod unit;\n#[tiered::test(tier = 2)]\nfn real() {}\n",
        ),
        (
            "unit.rs",
            "use mockall::mock;\n#[tiered::test(tier = 1)]\nfn fake() {}\n",
        ),
    ]);
    assert_eq!(
        found(&dir, &[], &MockingConfig::default()),
        Vec::<String>::new()
    );
    let only_unit = target(&[(
        "main.rs",
        "use mockall::mock;\n#[tiered::test(tier = 1)]\nfn fake() {}\n",
    )]);
    assert_eq!(
        found(&only_unit, &[], &MockingConfig::default()),
        Vec::<String>::new()
    );
}

#[tiered::test(tier = 1)]
fn configured_crates_are_found_and_allowances_are_shown() {
    let dir = target(&[(
        "main.rs",
        "use my_fake::X;\nuse wiremock::MockServer;\n#[tiered::test(tier = 2)]\nfn t() {}\n",
    )]);
    let config = MockingConfig {
        crates: vec!["my-fake".into()],
        allow: BTreeMap::from([(
            "wiremock".to_string(),
            "records a third-party API".to_string(),
        )]),
    };
    assert_eq!(
        found(&dir, &[], &config),
        [
            "main.rs:1 my-fake",
            "main.rs:2 wiremock allowed: records a third-party API"
        ]
    );
}

#[tiered::test(tier = 1)]
fn an_allowance_without_a_reason_is_a_config_error() {
    let err = tiered::config::Config::parse(
        "[mocking]\nallow = { mockall = \" \" }\n",
        std::path::Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("allowing `mockall` needs a written reason"),
        "{err}"
    );
    assert!(err.contains("key `mocking.allow.mockall`"), "{err}");
}

#[tiered::test(tier = 1)]
fn an_image_without_a_pinned_tag_is_a_config_error() {
    for image in ["postgres", "postgres:latest", "localhost:5000/pg"] {
        let text = format!("[services.postgres]\nimage = \"{image}\"\n");
        let err = tiered::config::Config::parse(&text, std::path::Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml:2:9: image"), "{err}");
        assert!(err.contains("no pinned tag"), "{err}");
    }
    let ok = tiered::config::Config::parse(
        "[services.redis]\nimage = \"localhost:5000/redis:7.4.1\"\n",
        std::path::Path::new("t"),
    )
    .unwrap();
    assert_eq!(
        ok.services["redis"].image.as_deref(),
        Some("localhost:5000/redis:7.4.1")
    );
}
