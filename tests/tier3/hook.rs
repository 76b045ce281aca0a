use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{cargo_tiered, fixture, fixtures_target, repo};

const MARKER: &str =
    "# installed by cargo-tiered hook install; remove with: cargo tiered hook uninstall";

/// What one command printed and returned.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A command that sees neither the user's git configuration (a global
/// `core.hooksPath` would send hooks elsewhere) nor a surrounding git hook's
/// environment.
fn isolated(program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "tiered")
        .env("GIT_AUTHOR_EMAIL", "tiered@example.invalid")
        .env("GIT_COMMITTER_NAME", "tiered")
        .env("GIT_COMMITTER_EMAIL", "tiered@example.invalid")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("TIERED_CONFIG")
        .env("RUST_BACKTRACE", "0");
    cmd
}

fn output(cmd: &mut Command) -> Out {
    let out = cmd.output().expect("the command runs");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = output(isolated("git", dir).args(args));
    assert_eq!(out.code, 0, "git {args:?} failed:\n{}", out.stderr);
}

/// `cargo tiered ARGS` run in `dir`.
fn tiered(dir: &Path, args: &[&str]) -> Out {
    output(isolated(cargo_tiered(), dir).arg("tiered").args(args))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_dir(&entry.path(), &dest);
            }
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A fresh git repository whose top level is a copy of the `passing`
/// fixture workspace, its `tiered` dependency pointing at this repository.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("passing"), dir.path());
    let manifest = dir.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replace(
        r#"path = "../../..""#,
        &format!("path = {:?}", repo().display().to_string()),
    );
    assert!(text.contains(&repo().display().to_string()), "{text}");
    std::fs::write(&manifest, text).unwrap();
    git(dir.path(), &["init", "-q"]);
    dir
}

fn hook_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(".git/hooks").join(name)
}

/// Writes an executable hook that is not ours.
fn write_foreign(path: &Path, text: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn assert_ours_with(path: &Path, exec_line: &str) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no hook at {} ({e})", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#!/bin/sh", "{text}");
    assert!(lines.contains(&MARKER), "{text}");
    assert!(lines.contains(&exec_line), "{text}");
    assert!(lines.contains(&"cd \"$top\" || exit 1"), "{text}");
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755, "{}", path.display());
    let syntax = output(Command::new("sh").arg("-n").arg(path));
    assert_eq!(syntax.code, 0, "sh -n: {}", syntax.stderr);
}

#[tiered::test(tier = 3, timeout = "5m")]
fn install_writes_an_executable_hook_with_the_recorded_command() {
    let dir = repository();
    let r = tiered(dir.path(), &["hook", "install"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pre_push = hook_file(dir.path(), "pre-push");
    assert_ours_with(&pre_push, "exec cargo tiered --tier 1 --gate discovery");
    assert!(
        r.stdout
            .contains("it runs `cargo tiered --tier 1 --gate discovery`"),
        "{}",
        r.stdout
    );

    // Gates from tiered.toml are known too; odd names are quoted.
    std::fs::write(
        dir.path().join("tiered.toml"),
        "[gates.\"it's mine\"]\nmax_failed = 0\n",
    )
    .unwrap();
    let r = tiered(
        dir.path(),
        &[
            "hook",
            "install",
            "--hook",
            "pre-commit",
            "--tier",
            "3",
            "--tier",
            "2",
            "--gate",
            "release",
            "--gate",
            "it's mine",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_ours_with(
        &hook_file(dir.path(), "pre-commit"),
        r"exec cargo tiered --tier 2,3 --gate release --gate 'it'\''s mine'",
    );

    // Installing again over our own hook rewrites it.
    let r = tiered(dir.path(), &["hook", "install", "--tier", "all"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_ours_with(&pre_push, "exec cargo tiered --tier 1,2,3 --gate discovery");
    assert!(!pre_push.with_file_name("pre-push.tiered-chained").exists());
}

#[tiered::test(tier = 3, timeout = "5m")]
fn the_hooks_directory_is_the_one_git_uses() {
    // A linked worktree shares the main repository's hooks.
    let dir = repository();
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-qm", "fixture"]);
    let linked = dir.path().join("linked");
    git(
        dir.path(),
        &["worktree", "add", "-q", linked.to_str().unwrap()],
    );
    let r = tiered(&linked, &["hook", "install"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_ours_with(
        &hook_file(dir.path(), "pre-push"),
        "exec cargo tiered --tier 1 --gate discovery",
    );

    // core.hooksPath, relative to the top level; a workspace below the top
    // level is named with --manifest-path.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("passing"), &dir.path().join("rust"));
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["config", "core.hooksPath", "githooks"]);
    let r = tiered(&dir.path().join("rust/tests"), &["hook", "install"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_ours_with(
        &dir.path().join("githooks/pre-push"),
        "exec cargo tiered --manifest-path rust/Cargo.toml --tier 1 --gate discovery",
    );
    assert!(!hook_file(dir.path(), "pre-push").exists());
}

#[tiered::test(tier = 3, timeout = "5m")]
fn a_foreign_hook_is_refused_and_left_byte_identical() {
    let dir = repository();
    let path = hook_file(dir.path(), "pre-push");
    let foreign: &[u8] = b"#!/bin/sh\n# someone else's\nexit 0\n\xff\xfe";
    write_foreign(&path, foreign);
    let r = tiered(dir.path(), &["hook", "install"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "error: {} is a pre-push hook that cargo tiered did not install",
            path.display()
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: pass --chain") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(&path).unwrap(), foreign);
    assert!(!path.with_file_name("pre-push.tiered-chained").exists());

    let r = tiered(dir.path(), &["hook", "install", "--chain", "--force"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(std::fs::read(&path).unwrap(), foreign);

    let r = tiered(dir.path(), &["hook", "install", "--force"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_ours_with(&path, "exec cargo tiered --tier 1 --gate discovery");
    assert!(!path.with_file_name("pre-push.tiered-chained").exists());
}

#[tiered::test(tier = 3, timeout = "5m")]
fn chain_keeps_the_foreign_hook_and_runs_it_first() {
    let dir = repository();
    let path = hook_file(dir.path(), "pre-push");
    let log = dir.path().join("log");
    // The earlier hook logs its arguments and input, and fails when asked.
    let foreign = format!(
        "#!/bin/sh\necho \"chained: $*\" >> '{log}'\nwhile read -r l; do echo \"stdin: $l\" >> '{log}'; done\n\
         [ ! -e '{log}.fail' ] || exit 7\n",
        log = log.display()
    );
    write_foreign(&path, foreign.as_bytes());
    std::fs::write(
        dir.path().join("tiered.toml"),
        "[gates.\"it's mine\"]\nmax_failed = 0\n",
    )
    .unwrap();
    let r = tiered(
        dir.path(),
        &["hook", "install", "--chain", "--gate", "it's mine"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let chained = path.with_file_name("pre-push.tiered-chained");
    assert_eq!(std::fs::read_to_string(&chained).unwrap(), foreign);
    assert_ours_with(&path, r"exec cargo tiered --tier 1 --gate 'it'\''s mine'");

    // A stand-in `cargo` logs what the hook asks of it.
    let bin = tempfile::tempdir().unwrap();
    write_foreign(
        &bin.path().join("cargo"),
        format!(
            "#!/bin/sh\necho \"cargo in $(pwd)\" >> '{log}'\nfor a in \"$@\"; do echo \"arg: $a\" >> '{log}'; done\n",
            log = log.display()
        )
        .as_bytes(),
    );
    let path_var = std::env::join_paths(std::iter::once(bin.path().to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let run_hook = || {
        let mut cmd = isolated(&path, dir.path());
        cmd.args(["origin", "https://example.invalid/r.git"])
            .env("PATH", &path_var)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"refs/heads/main 1111 refs/heads/main 0000\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            std::fs::read_to_string(&log).unwrap_or_default(),
        )
    };

    let (code, logged) = run_hook();
    assert_eq!(code, Some(0), "{logged}");
    let top = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        logged,
        format!(
            "chained: origin https://example.invalid/r.git\n\
             stdin: refs/heads/main 1111 refs/heads/main 0000\n\
             cargo in {}\narg: tiered\narg: --tier\narg: 1\narg: --gate\narg: it's mine\n",
            top.display()
        )
    );

    // When the earlier hook fails, its code is the hook's and cargo does not run.
    std::fs::remove_file(&log).unwrap();
    std::fs::write(format!("{}.fail", log.display()), "").unwrap();
    let (code, logged) = run_hook();
    assert_eq!(code, Some(7), "{logged}");
    assert!(logged.starts_with("chained: origin"), "{logged}");
    assert!(!logged.contains("cargo in"), "{logged}");
}

#[tiered::test(tier = 3, timeout = "5m")]
fn uninstall_removes_only_ours_and_restores_the_chained_hook() {
    let dir = repository();
    let path = hook_file(dir.path(), "pre-commit");
    let foreign: &[u8] = b"#!/bin/sh\nexit 0\n";
    write_foreign(&path, foreign);
    let r = tiered(
        dir.path(),
        &["hook", "install", "--hook", "pre-commit", "--chain"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = tiered(dir.path(), &["hook", "uninstall", "--hook", "pre-commit"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("removed the pre-commit hook"),
        "{}",
        r.stdout
    );
    assert_eq!(std::fs::read(&path).unwrap(), foreign);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    assert!(!path.with_file_name("pre-commit.tiered-chained").exists());

    // Without a chained hook, ours simply goes; a second uninstall finds nothing.
    let r = tiered(dir.path(), &["hook", "install"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = tiered(dir.path(), &["hook", "uninstall"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!hook_file(dir.path(), "pre-push").exists());
    let r = tiered(dir.path(), &["hook", "uninstall"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("no hook installed"), "{}", r.stdout);
    // The foreign pre-commit hook was never touched.
    assert_eq!(std::fs::read(&path).unwrap(), foreign);
}

#[tiered::test(tier = 3, timeout = "5m")]
fn uninstall_refuses_a_foreign_hook() {
    let dir = repository();
    let path = hook_file(dir.path(), "pre-push");
    let foreign: &[u8] = b"#!/bin/sh\nexec cargo tiered --tier 1\n";
    write_foreign(&path, foreign);
    let r = tiered(dir.path(), &["hook", "uninstall"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{} is a pre-push hook that cargo tiered did not install; not removing it",
            path.display()
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    assert_eq!(std::fs::read(&path).unwrap(), foreign);
}

#[tiered::test(tier = 3, timeout = "5m")]
fn hook_usage_errors_exit_two_and_write_nothing() {
    // Not a git repository (git must not look above the temporary directory).
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("passing"), dir.path());
    let r = output(
        isolated(cargo_tiered(), dir.path())
            .args(["tiered", "hook", "install"])
            .env("GIT_CEILING_DIRECTORIES", dir.path().parent().unwrap()),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("is not inside a git work tree"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);

    let dir = repository();
    for (args, says) in [
        (&["--tier", "4"][..], "unknown tier `4`"),
        (
            &["--gate", "nightly"][..],
            "unknown gate `nightly`; known gates: discovery, integration, release",
        ),
        (&["--chain", "--force"][..], "cannot be used with"),
        (&["--release"][..], "`--release` does not apply"),
        (&["--hook", "post-merge"][..], "invalid value 'post-merge'"),
    ] {
        let r = tiered(dir.path(), &[&["hook", "install"][..], args].concat());
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    let hooks: Vec<_> = std::fs::read_dir(dir.path().join(".git/hooks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".sample"))
        .collect();
    assert!(hooks.is_empty(), "{hooks:?}");
}

#[tiered::test(tier = 3, timeout = "15m")]
fn the_installed_hook_runs_cargo_tiered_before_a_push() {
    let dir = repository();
    let remote = tempfile::tempdir().unwrap();
    git(remote.path(), &["init", "-q", "--bare"]);
    let path = hook_file(dir.path(), "pre-push");
    let ran = dir.path().join("chained-ran");
    write_foreign(
        &path,
        format!("#!/bin/sh\ntouch '{}'\n", ran.display()).as_bytes(),
    );
    let r = tiered(dir.path(), &["hook", "install", "--chain"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    git(
        dir.path(),
        &["add", "Cargo.toml", "Cargo.lock", "src", "tests"],
    );
    git(dir.path(), &["commit", "-qm", "fixture"]);

    // `cargo tiered` is the built binary: its directory comes first on PATH.
    let bin = cargo_tiered().parent().unwrap().to_path_buf();
    let path_var = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let r = output(
        isolated("git", dir.path())
            .args(["push", "-q"])
            .arg(remote.path())
            .arg("HEAD:refs/heads/main")
            .env("PATH", path_var)
            .env("CARGO_TARGET_DIR", fixtures_target()),
    );
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(ran.exists(), "the chained hook did not run:\n{}", r.stderr);
    assert!(r.stderr.contains("verdict: PASS"), "{}", r.stderr);
    assert!(r.stderr.contains("discovery"), "{}", r.stderr);
    let pushed = output(isolated("git", remote.path()).args([
        "rev-parse",
        "--verify",
        "-q",
        "refs/heads/main",
    ]));
    assert_eq!(pushed.code, 0, "the push did not arrive");
}
