//! Pre-merge git hooks: `cargo tiered hook install` and `hook uninstall`.
//!
//! [`install`] writes a POSIX `sh` script into the repository's hooks
//! directory (`git rev-parse --git-path hooks`, so linked worktrees and
//! `core.hooksPath` are honoured) that runs nothing but `cargo tiered` with
//! the tiers and gates recorded at install time, from the repository's
//! top-level directory. The script carries the [`MARKER`] line, and that line
//! is the only thing that makes a hook ours: a hook without it is never
//! deleted, and overwritten only when asked (`--force`); `--chain` keeps it
//! as `<hook>.tiered-chained`, run first by our script. [`uninstall`] removes
//! only a hook carrying the marker and puts a chained hook back. Tiers and
//! gates are checked as a run checks them before anything is written, so a
//! mistake shows at install time rather than at the first push. Errors are a
//! [`HookError`]; each variant knows its exit code and a hint.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use crate::config::{Config, ConfigError};
use crate::exit_codes;
use crate::gates::{self, UnknownGate};
use crate::tier::{TierParseError, TierSet};

/// The line that marks a hook as written by `cargo tiered hook install`.
pub const MARKER: &str =
    "# installed by cargo-tiered hook install; remove with: cargo tiered hook uninstall";

/// What an existing hook is renamed to when `--chain` keeps it.
pub const CHAINED_SUFFIX: &str = ".tiered-chained";

/// Tiers the hook runs when none is given.
pub const DEFAULT_TIER: &str = "1";

/// Gate the hook judges when none is given.
pub const DEFAULT_GATE: &str = "discovery";

/// The git hooks `cargo tiered` can install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HookKind {
    /// `pre-push`: runs before `git push` sends anything (the default).
    #[default]
    PrePush,
    /// `pre-commit`: runs before `git commit` records the commit.
    PreCommit,
}

impl HookKind {
    /// The hook's file name in the hooks directory.
    pub fn name(self) -> &'static str {
        match self {
            HookKind::PrePush => "pre-push",
            HookKind::PreCommit => "pre-commit",
        }
    }

    /// The git command the hook guards.
    fn guards(self) -> &'static str {
        match self {
            HookKind::PrePush => "push",
            HookKind::PreCommit => "commit",
        }
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HookKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pre-push" => Ok(HookKind::PrePush),
            "pre-commit" => Ok(HookKind::PreCommit),
            other => Err(format!(
                "unknown hook `{other}`: use pre-push or pre-commit"
            )),
        }
    }
}

/// Why a hook could not be installed or removed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// `--tier` names no tier.
    #[error("--tier: {0}")]
    Tier(TierParseError),
    /// `--gate` names no gate.
    #[error(transparent)]
    UnknownGate(#[from] UnknownGate),
    /// `tiered.toml` is invalid, so the gates cannot be checked.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No `Cargo.toml` in the directory or above it.
    #[error("no Cargo.toml in {dir} or any directory above it")]
    NoWorkspace {
        /// Where the search started.
        dir: PathBuf,
    },
    /// `--manifest-path` names a file that does not exist.
    #[error("{manifest} does not exist")]
    NoManifest {
        /// The path given.
        manifest: PathBuf,
    },
    /// `git` could not be started.
    #[error("cannot run `git` in {dir}")]
    GitSpawn {
        /// Where it was run.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `git rev-parse` failed: not a git work tree.
    #[error("{dir} is not inside a git work tree (`git {args}`: {message})")]
    NotARepository {
        /// Where git was run.
        dir: PathBuf,
        /// The git arguments.
        args: String,
        /// What git said.
        message: String,
    },
    /// A hook that `cargo tiered` did not write is in the way of `install`.
    #[error("{path} is a {hook} hook that cargo tiered did not install; it was left as it is")]
    ForeignHook {
        /// The hook.
        hook: HookKind,
        /// Its file.
        path: PathBuf,
    },
    /// `uninstall` found a hook that `cargo tiered` did not write.
    #[error("{path} is a {hook} hook that cargo tiered did not install; not removing it")]
    NotOurs {
        /// The hook.
        hook: HookKind,
        /// Its file.
        path: PathBuf,
    },
    /// `--chain` cannot keep the hook: the chained file already exists.
    #[error("cannot keep the {hook} hook at {path}: {chained} already exists")]
    ChainedExists {
        /// The hook.
        hook: HookKind,
        /// The hook's file.
        path: PathBuf,
        /// The file that is in the way.
        chained: PathBuf,
    },
    /// A file in the hooks directory could not be read, written or moved.
    #[error("cannot {what} {path}")]
    Io {
        /// What was being done: "write", "read", "remove", "move".
        what: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl HookError {
    /// The documented exit code for this error: usage mistakes 2, I/O 3.
    pub fn exit_code(&self) -> u8 {
        match self {
            HookError::GitSpawn { .. } | HookError::Io { .. } => exit_codes::INFRASTRUCTURE,
            _ => exit_codes::USAGE,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            HookError::Tier(_) => {
                "--tier takes what a run takes; repeat it (--tier 1 --tier 2) or give a list (--tier 1,2)".into()
            }
            HookError::UnknownGate(_) => {
                "define it as [gates.NAME] in tiered.toml, or use one of the known gates".into()
            }
            HookError::Config(e) => e.hint().to_string(),
            HookError::NoWorkspace { .. } | HookError::NoManifest { .. } => {
                "run `cargo tiered hook install` inside the cargo workspace, or point --manifest-path at its Cargo.toml".into()
            }
            HookError::GitSpawn { .. } => "install git and make sure it is on PATH".into(),
            HookError::NotARepository { .. } => {
                "run it inside the repository's work tree (`git init` makes one)".into()
            }
            HookError::ForeignHook { path, .. } => format!(
                "pass --chain to keep it (it moves to {} and runs first), or --force to replace it",
                chained_path(path).display()
            ),
            HookError::NotOurs { .. } => {
                "it is not ours to remove: delete or edit it yourself if it should go".into()
            }
            HookError::ChainedExists { chained, .. } => format!(
                "look at both files, move {} out of the way, and run the command again",
                chained.display()
            ),
            HookError::Io { .. } => {
                "check that the hooks directory exists and is writable by you".into()
            }
        })
    }
}

/// What `cargo tiered hook install` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Where the command runs; the workspace is found from here.
    pub dir: PathBuf,
    /// `--manifest-path`: the workspace's `Cargo.toml`, instead of searching `dir`.
    pub manifest_path: Option<PathBuf>,
    /// Which hook.
    pub hook: HookKind,
    /// `--tier` values, as given (default [`DEFAULT_TIER`]).
    pub tiers: Vec<String>,
    /// `--gate` names (default [`DEFAULT_GATE`]).
    pub gates: Vec<String>,
    /// Keep a foreign hook as `<hook>.tiered-chained` and run it first.
    pub chain: bool,
    /// Replace a foreign hook.
    pub force: bool,
}

/// What was in the hook's place before [`install`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Previous {
    /// Nothing.
    Nothing,
    /// A hook installed by `cargo tiered`: rewritten.
    Ours,
    /// A foreign hook, moved to this path and run first.
    Chained(PathBuf),
    /// A foreign hook, replaced (`--force`).
    Replaced,
}

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// Which hook.
    pub hook: HookKind,
    /// The hook's file.
    pub path: PathBuf,
    /// The arguments after `cargo` the hook runs (`tiered --tier 1 …`).
    pub args: Vec<String>,
    /// The chained hook the script runs first, if any.
    pub chained: Option<PathBuf>,
    /// What was there before.
    pub previous: Previous,
}

/// What [`uninstall`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uninstalled {
    /// No hook was at `path`. When a chained hook was left without ours in
    /// front of it, it was moved back: `restored`.
    NotInstalled {
        /// Where the hook would be.
        path: PathBuf,
        /// The chained hook moved back to `path`.
        restored: Option<PathBuf>,
    },
    /// Our hook was removed; a chained hook was moved back.
    Removed {
        /// The hook's file.
        path: PathBuf,
        /// The chained hook moved back to `path`.
        restored: Option<PathBuf>,
    },
}

/// Where `--chain` keeps the hook that was at `hook_path`.
pub fn chained_path(hook_path: &Path) -> PathBuf {
    let mut name = hook_path.file_name().unwrap_or_default().to_os_string();
    name.push(CHAINED_SUFFIX);
    hook_path.with_file_name(name)
}

/// Whether a hook's contents carry our [`MARKER`] line.
pub fn is_ours(contents: &[u8]) -> bool {
    contents
        .split(|b| *b == b'\n')
        .any(|line| line.strip_suffix(b"\r").unwrap_or(line) == MARKER.as_bytes())
}

/// Quotes `arg` for a POSIX shell: unchanged when it holds only characters
/// no shell treats specially, else in single quotes.
pub fn shell_quote(arg: &str) -> Cow<'_, str> {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./,:=@%+".contains(&b));
    if plain {
        Cow::Borrowed(arg)
    } else {
        Cow::Owned(format!("'{}'", arg.replace('\'', r"'\''")))
    }
}

/// The hook script: `cargo` with `args`, from the repository's top-level
/// directory, after the chained hook when `chained`.
pub fn script(hook: HookKind, args: &[String], chained: bool) -> String {
    let command: Vec<Cow<'_, str>> = std::iter::once(Cow::Borrowed("cargo"))
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect();
    let mut s = format!(
        "#!/bin/sh\n{MARKER}\n\
         # Before every {guards}, run the tiered test suites with `cargo tiered`;\n\
         # the {guards} stops when they fail. Reinstalling rewrites this file.\n",
        guards = hook.guards()
    );
    if chained {
        s.push_str(&format!(
            "\n# The {name} hook that was here before runs first, with the same arguments\n\
             # and input; when it fails, the {guards} stops there.\n\
             chained=\"$(dirname \"$0\")/{name}{CHAINED_SUFFIX}\"\n\
             if [ -x \"$chained\" ]; then\n    \"$chained\" \"$@\" || exit $?\nfi\n",
            name = hook.name(),
            guards = hook.guards(),
        ));
    }
    s.push_str(&format!(
        "\ntop=$(git rev-parse --show-toplevel) || exit 1\n\
         cd \"$top\" || exit 1\n\
         exec {}\n",
        command.join(" ")
    ));
    s
}

/// Installs the hook, after checking the tiers and gates it will run.
pub fn install(opts: &InstallOptions) -> Result<Installed, HookError> {
    let mut tiers = TierSet::default();
    for spec in &opts.tiers {
        tiers.parse_into(spec).map_err(HookError::Tier)?;
    }
    if tiers.is_empty() {
        tiers.parse_into(DEFAULT_TIER).map_err(HookError::Tier)?;
    }
    let mut gate_names: Vec<String> = Vec::new();
    for g in &opts.gates {
        if !gate_names.contains(g) {
            gate_names.push(g.clone());
        }
    }
    if gate_names.is_empty() {
        gate_names.push(DEFAULT_GATE.to_string());
    }
    let manifest = find_manifest(&opts.dir, opts.manifest_path.as_deref())?;
    let ws_dir = manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| opts.dir.clone());
    let (config, _) = Config::discover(&ws_dir)?;
    gates::resolve(&config, &gate_names)?;
    let repo = Repo::locate(&ws_dir)?;

    let mut args = vec!["tiered".to_string()];
    if let Some(rel) = repo.relative_manifest(&manifest) {
        args.push("--manifest-path".into());
        args.push(rel);
    }
    args.push("--tier".into());
    args.push(tiers.to_string());
    for g in gate_names {
        args.push("--gate".into());
        args.push(g);
    }

    let path = repo.hooks.join(opts.hook.name());
    let chained = chained_path(&path);
    let previous = match &read_existing(&path)? {
        None => Previous::Nothing,
        Some(contents) if is_ours(contents) => Previous::Ours,
        Some(_) if opts.chain => {
            if std::fs::symlink_metadata(&chained).is_ok() {
                return Err(HookError::ChainedExists {
                    hook: opts.hook,
                    path,
                    chained,
                });
            }
            Previous::Chained(chained.clone())
        }
        Some(_) if opts.force => Previous::Replaced,
        Some(_) => {
            return Err(HookError::ForeignHook {
                hook: opts.hook,
                path,
            })
        }
    };
    let runs_chained =
        matches!(previous, Previous::Chained(_)) || std::fs::symlink_metadata(&chained).is_ok();
    std::fs::create_dir_all(&repo.hooks).map_err(|e| io("create", &repo.hooks, e))?;
    let text = script(opts.hook, &args, runs_chained);
    let tmp = write_temporary(&path, &text)?;
    if let Previous::Chained(to) = &previous {
        if let Err(e) = std::fs::rename(&path, to) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("move", &path, e));
        }
    }
    if let Err(e) = std::fs::rename(&tmp, &path) {
        let _ = std::fs::remove_file(&tmp);
        if let Previous::Chained(to) = &previous {
            let _ = std::fs::rename(to, &path);
        }
        return Err(io("write", &path, e));
    }
    Ok(Installed {
        hook: opts.hook,
        path,
        args,
        chained: runs_chained.then_some(chained),
        previous,
    })
}

/// Removes our hook from the repository containing `dir` (or the workspace of
/// `manifest_path`), and puts a chained hook back in its place.
pub fn uninstall(
    dir: &Path,
    manifest_path: Option<&Path>,
    hook: HookKind,
) -> Result<Uninstalled, HookError> {
    let start = match manifest_path {
        Some(m) => {
            let m = dir.join(m);
            if !m.is_file() {
                return Err(HookError::NoManifest { manifest: m });
            }
            m.parent().map(Path::to_path_buf).unwrap_or_default()
        }
        None => dir.to_path_buf(),
    };
    let repo = Repo::locate(&start)?;
    let path = repo.hooks.join(hook.name());
    let chained = chained_path(&path);
    let has_chained = std::fs::symlink_metadata(&chained).is_ok();
    match read_existing(&path)? {
        None => {
            let restored = if has_chained {
                std::fs::rename(&chained, &path).map_err(|e| io("move", &chained, e))?;
                Some(chained)
            } else {
                None
            };
            return Ok(Uninstalled::NotInstalled { path, restored });
        }
        Some(contents) if !is_ours(&contents) => return Err(HookError::NotOurs { hook, path }),
        Some(_) => {}
    }
    std::fs::remove_file(&path).map_err(|e| io("remove", &path, e))?;
    let restored = if has_chained {
        std::fs::rename(&chained, &path).map_err(|e| io("move", &chained, e))?;
        Some(chained)
    } else {
        None
    };
    Ok(Uninstalled::Removed { path, restored })
}

/// The repository around a directory, as git sees it.
struct Repo {
    /// The work tree's top-level directory.
    top: PathBuf,
    /// The hooks directory (may not exist yet).
    hooks: PathBuf,
}

impl Repo {
    fn locate(dir: &Path) -> Result<Repo, HookError> {
        // Without symlinks in `dir`, the `..` git may answer can be dropped lexically.
        let dir = &std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let args = ["rev-parse", "--show-toplevel", "--git-path", "hooks"];
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|source| HookError::GitSpawn {
                dir: dir.to_path_buf(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut lines = stdout.lines();
        match (out.status.success(), lines.next(), lines.next()) {
            (true, Some(top), Some(hooks)) if !top.is_empty() && !hooks.is_empty() => Ok(Repo {
                top: PathBuf::from(top),
                // Relative to where git ran; absolute with an absolute core.hooksPath.
                hooks: lexically_normal(&dir.join(hooks)),
            }),
            _ => Err(HookError::NotARepository {
                dir: dir.to_path_buf(),
                args: args.join(" "),
                message: String::from_utf8_lossy(&out.stderr)
                    .trim()
                    .trim_start_matches("fatal: ")
                    .to_string(),
            }),
        }
    }

    /// The manifest relative to the top-level directory, when it is not the
    /// top-level `Cargo.toml` (the hook then passes `--manifest-path`).
    fn relative_manifest(&self, manifest: &Path) -> Option<String> {
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let top = canonical(&self.top);
        let manifest = canonical(manifest);
        if manifest == top.join("Cargo.toml") {
            return None;
        }
        Some(match manifest.strip_prefix(&top) {
            Ok(rel) => rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
            Err(_) => manifest.display().to_string(),
        })
    }
}

/// `--manifest-path` (made absolute against `dir`), else the nearest
/// `Cargo.toml` in `dir` or above it, as cargo finds it.
fn find_manifest(dir: &Path, manifest_path: Option<&Path>) -> Result<PathBuf, HookError> {
    if let Some(m) = manifest_path {
        let m = dir.join(m);
        return if m.is_file() {
            Ok(m)
        } else {
            Err(HookError::NoManifest { manifest: m })
        };
    }
    dir.ancestors()
        .map(|d| d.join("Cargo.toml"))
        .find(|m| m.is_file())
        .ok_or_else(|| HookError::NoWorkspace {
            dir: dir.to_path_buf(),
        })
}

/// `path` without `.` components and with each `..` dropped with the
/// component before it.
fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The contents of the file at `path`, `None` when there is none. A dangling
/// symlink is a file in the way, with nothing to read.
fn read_existing(path: &Path) -> Result<Option<Vec<u8>>, HookError> {
    use std::io::ErrorKind::NotFound;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == NotFound => Ok(None),
        Err(e) => Err(io("read", path, e)),
        Ok(_) => match std::fs::read(path) {
            Err(e) if e.kind() == NotFound => Ok(Some(Vec::new())),
            other => other.map(Some).map_err(|e| io("read", path, e)),
        },
    }
}

fn io(what: &str, path: &Path, source: std::io::Error) -> HookError {
    HookError::Io {
        what: what.into(),
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `text` beside `path` as an executable file, to be renamed over it.
fn write_temporary(path: &Path, text: &str) -> Result<PathBuf, HookError> {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".tiered-new");
    let tmp = path.with_file_name(name);
    let result = std::fs::write(&tmp, text).and_then(|()| make_executable(&tmp));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("write", &tmp, e));
    }
    Ok(tmp)
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
