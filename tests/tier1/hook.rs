use std::path::Path;

use tiered::hook::{
    chained_path, is_ours, script, shell_quote, HookKind, DEFAULT_GATE, DEFAULT_TIER, MARKER,
};

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tiered::test(tier = 1)]
fn plain_words_are_not_quoted_and_the_rest_is() {
    for plain in [
        "tiered",
        "--tier",
        "1,2",
        "discovery",
        "rust/Cargo.toml",
        "a=b",
    ] {
        assert_eq!(shell_quote(plain), plain);
    }
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("two words"), "'two words'");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
    assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    assert_eq!(shell_quote("a`b`;c|d&e"), "'a`b`;c|d&e'");
    assert_eq!(shell_quote("line\nbreak"), "'line\nbreak'");
}

#[tiered::test(tier = 1)]
fn the_scripts_users_get() {
    let plain = script(
        HookKind::PrePush,
        &args(&["tiered", "--tier", "1", "--gate", "discovery"]),
        false,
    );
    let chained = script(
        HookKind::PreCommit,
        &args(&["tiered", "--tier", "1,2", "--gate", "it's mine"]),
        true,
    );
    crate::golden::check(
        "hook-scripts.txt",
        &format!("--- pre-push:\n{plain}\n--- pre-commit, chained:\n{chained}"),
    );
    assert!(is_ours(plain.as_bytes()) && is_ours(chained.as_bytes()));
}

#[tiered::test(tier = 1)]
fn only_the_marker_line_makes_a_hook_ours() {
    assert!(is_ours(
        format!("#!/bin/sh\r\n{MARKER}\r\nexit 0\r\n").as_bytes()
    ));
    assert!(!is_ours(b"#!/bin/sh\nexec cargo tiered\n"));
    assert!(!is_ours(format!("#!/bin/sh\necho '{MARKER}'\n").as_bytes()));
    assert!(!is_ours(b"\x7fELF\x00\xff binary"));
}

#[tiered::test(tier = 1)]
fn hooks_have_their_git_names() {
    assert_eq!(HookKind::default(), HookKind::PrePush);
    assert_eq!("pre-commit".parse::<HookKind>(), Ok(HookKind::PreCommit));
    assert_eq!(HookKind::PrePush.to_string(), "pre-push");
    assert!("post-merge".parse::<HookKind>().is_err());
    assert_eq!(
        chained_path(Path::new("/r/.git/hooks/pre-push")),
        Path::new("/r/.git/hooks/pre-push.tiered-chained")
    );
}

/// The entries of `.pre-commit-hooks.yaml`, as (key, value) lines. The file
/// is a flat list of flat maps, so reading it needs no YAML library.
fn pre_commit_entries() -> Vec<Vec<(String, String)>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut entries: Vec<Vec<(String, String)>> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (item, rest) = match line.strip_prefix("- ") {
            Some(rest) => (true, rest),
            None => (
                false,
                line.strip_prefix("  ")
                    .unwrap_or_else(|| panic!("unexpected indentation: {line:?}")),
            ),
        };
        if item {
            entries.push(Vec::new());
        }
        let (key, value) = rest
            .split_once(": ")
            .unwrap_or_else(|| panic!("not `key: value`: {line:?}"));
        entries
            .last_mut()
            .unwrap_or_else(|| panic!("a key before the first `- id:`: {line:?}"))
            .push((key.to_string(), value.trim().to_string()));
    }
    entries
}

#[tiered::test(tier = 1)]
fn the_pre_commit_framework_manifest_runs_cargo_tiered() {
    let entries = pre_commit_entries();
    let get = |e: &Vec<(String, String)>, k: &str| {
        e.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no `{k}` in {e:?}"))
    };
    let ids: Vec<String> = entries.iter().map(|e| get(e, "id")).collect();
    assert_eq!(ids, ["cargo-tiered", "cargo-tiered-pre-commit"]);
    for (e, stage) in entries.iter().zip(["pre-push", "pre-commit"]) {
        assert_eq!(e[0].0, "id", "id comes first");
        assert_eq!(get(e, "entry"), "cargo tiered");
        assert_eq!(get(e, "language"), "system");
        assert_eq!(get(e, "pass_filenames"), "false");
        assert_eq!(get(e, "stages"), format!("[{stage}]"));
        // The same command `cargo tiered hook install` records by default.
        assert_eq!(
            get(e, "args"),
            format!(r#"[--tier, "{DEFAULT_TIER}", --gate, {DEFAULT_GATE}]"#)
        );
        let mut keys: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), e.len(), "a key twice in {e:?}");
    }
}
