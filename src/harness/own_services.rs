//! The services a harness binary run alone (by `cargo test`, nextest)
//! provisions for itself; under `cargo tiered` the session is given.
//!
//! Kept services (`cargo tiered services up`) are reused. On SIGINT or
//! SIGTERM the binary removes the containers it started and exits 130 or
//! 143: libtest-mimic's threads cannot be stopped in an orderly way, and the
//! containers must not outlive the process.

#[cfg(feature = "_services")]
mod imp {
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::sync::OnceLock;

    use crate::config::Config;
    use crate::execute::runtime;
    use crate::services::session::{Reuse, Session, Update};
    use crate::services::{ServiceKind, SESSION_ENV};

    /// The environment and secrets of the session, for child processes.
    type Given = (Vec<(String, String)>, Vec<String>);
    static GIVEN: OnceLock<Given> = OnceLock::new();

    /// The session this binary started, if it started one.
    static OWNED: OnceLock<String> = OnceLock::new();

    /// Starts the `needed` services, unless a session is given
    /// (`TIERED_SESSION` is set) or none is needed.
    pub fn start(needed: &[&str]) -> Result<Option<Session>, ExitCode> {
        let kinds: Vec<ServiceKind> = needed
            .iter()
            .filter_map(|n| ServiceKind::from_name(n))
            .collect();
        if kinds.is_empty() || std::env::var_os(SESSION_ENV).is_some() {
            return Ok(None);
        }
        let dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        let (config, root) = Config::discover(&dir).map_err(|e| {
            eprintln!("error: {e}\nhint: {}", e.hint());
            ExitCode::from(crate::exit_codes::USAGE)
        })?;
        let reuse = crate::services::kept::state_path_for_exe().map(|path| Reuse {
            path,
            keep_new: false,
        });
        let session = runtime().block_on(Session::provision_with(
            &kinds,
            &config,
            &root,
            reuse.as_ref(),
            &mut |u| match u {
                Update::Ready(r) => eprintln!("{}", crate::report::summary::service_line(r)),
                Update::Note(text) => eprintln!("{text}"),
                Update::Starting { .. } => {}
            },
        ));
        let _ = GIVEN.set((session.env(), session.secrets()));
        let _ = OWNED.set(session.id().to_string());
        watch_signals(session.id().to_string());
        Ok(Some(session))
    }

    /// Removes the containers of the session this binary started, now (the
    /// process is about to end without its orderly teardown).
    pub fn remove_now() {
        if let Some(session) = OWNED.get() {
            let removed = remove_containers(session);
            eprintln!("services: removed {removed} container(s) of session {session}");
        }
    }

    fn remove_containers(session: &str) -> usize {
        runtime().block_on(async {
            let Ok((docker, _)) =
                crate::services::docker::connect(crate::services::session::DOCKER_PING_LIMIT).await
            else {
                return 0;
            };
            let mut removed = 0;
            for id in crate::services::docker::session_containers(&docker, session).await {
                if crate::services::docker::remove(&docker, &id).await.is_ok() {
                    removed += 1;
                }
            }
            removed
        })
    }

    fn watch_signals(session: String) {
        crate::interrupt::install();
        let _ = std::thread::Builder::new()
            .name("tiered-signals".into())
            .spawn(move || loop {
                let Some(sig) = crate::interrupt::requested() else {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    continue;
                };
                eprintln!(
                    "\n{}: removing the containers of session {session} and stopping the running tests",
                    crate::interrupt::name(sig)
                );
                let removed = remove_containers(&session);
                eprintln!("services: removed {removed} container(s) of session {session}");
                // Last: a test stopped earlier would let the harness go on
                // to its own teardown while this one runs.
                crate::harness::children::kill_all();
                std::process::exit(i32::from(crate::interrupt::exit_code(sig)));
            });
    }

    /// Removes the containers of the session `start` made.
    pub fn finish(session: Option<Session>) {
        if let Some(s) = session {
            let id = s.id().to_string();
            let removed = runtime().block_on(s.teardown());
            if removed > 0 {
                eprintln!("services: removed {removed} container(s) of session {id}");
            }
        }
    }

    /// The session's endpoints, for the test processes.
    pub fn env() -> &'static [(String, String)] {
        GIVEN.get().map(|g| g.0.as_slice()).unwrap_or(&[])
    }

    /// The session's secrets, to redact.
    pub fn secrets() -> &'static [String] {
        GIVEN.get().map(|g| g.1.as_slice()).unwrap_or(&[])
    }
}

#[cfg(not(feature = "_services"))]
mod imp {
    use std::process::ExitCode;

    /// No services without the service features.
    pub struct Session;

    pub fn start(_needed: &[&str]) -> Result<Option<Session>, ExitCode> {
        Ok(None)
    }

    pub fn finish(_session: Option<Session>) {}

    pub fn remove_now() {}

    pub fn env() -> &'static [(String, String)] {
        &[]
    }

    pub fn secrets() -> &'static [String] {
        &[]
    }
}

pub(crate) use imp::*;
