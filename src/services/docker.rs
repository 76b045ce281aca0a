//! Docker plumbing the session needs besides testcontainers: is the daemon
//! reachable (asked up front with a short timeout, so an absent daemon is one
//! clear message instead of a hang), is an image present, which containers
//! carry a session's labels, and a host-config change that publishes ports
//! on 127.0.0.1 only.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use testcontainers::bollard::models::{HostConfig, PortBinding};
use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers::bollard::Docker;

/// Label carrying the session id on every container the harness starts.
pub const SESSION_LABEL: &str = "dev.tiered.session";
/// Label carrying the PID of the process that owns the session.
pub const OWNER_PID_LABEL: &str = "dev.tiered.owner-pid";
/// Label carrying the service name.
pub const SERVICE_LABEL: &str = "dev.tiered.service";
/// Label on kept containers (`cargo tiered services up`): the workspace
/// root they were started for. Their owner-pid label is `kept`.
pub const KEPT_LABEL: &str = "dev.tiered.kept";
/// Label carrying the host name of the owner's machine: an owner PID means
/// something only there.
pub const OWNER_HOST_LABEL: &str = "dev.tiered.owner-host";
/// Label carrying the owner's start time (clock ticks since boot, from
/// `/proc`), so a PID reused by another process is not taken for the owner.
pub const OWNER_START_LABEL: &str = "dev.tiered.owner-start";

/// This machine's host name, as the owner-host label records it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// When a process started (field 22 of `/proc/PID/stat`); `None` when there
/// is no such process (or no `/proc`).
pub fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// The owner labels of a container this process starts: its PID, host and
/// start time.
pub fn owner_labels() -> [(&'static str, String); 3] {
    let pid = std::process::id();
    [
        (OWNER_PID_LABEL, pid.to_string()),
        (OWNER_HOST_LABEL, host_name()),
        (OWNER_START_LABEL, process_start(pid).unwrap_or_default()),
    ]
}

/// Whether the process that owned a container is gone: on this host, with
/// a numeric owner PID (kept containers have `kept`), and that PID is not
/// running or is running a process that started at another time.
pub fn owner_gone(labels: &HashMap<String, String>, host: &str) -> bool {
    // Without /proc, nothing can be known: never guess a live owner dead.
    if process_start(std::process::id()).is_none() {
        return false;
    }
    let Some(Ok(pid)) = labels.get(OWNER_PID_LABEL).map(|p| p.parse::<u32>()) else {
        return false;
    };
    if labels.get(OWNER_HOST_LABEL).is_some_and(|h| h != host) {
        return false;
    }
    match process_start(pid) {
        None => true,
        Some(start) => labels
            .get(OWNER_START_LABEL)
            .is_some_and(|s| !s.is_empty() && *s != start),
    }
}

/// A container removed because its owner was gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// The container id.
    pub id: String,
    /// Its session.
    pub session: String,
    /// The PID that owned it.
    pub owner: String,
}

/// Removes the containers of sessions whose owner process is gone — one
/// killed with SIGKILL, or one that crashed before its teardown — and
/// returns them. Every `cargo tiered` run, a harness binary starting its
/// own services, and `cargo tiered services down` call it.
pub async fn reap_orphans(docker: &Docker) -> Vec<Orphan> {
    let filters: HashMap<String, Vec<String>> =
        HashMap::from([("label".to_string(), vec![SESSION_LABEL.to_string()])]);
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    // Bounded: a daemon that stopped answering must not hold the run here.
    let Ok(Ok(list)) =
        tokio::time::timeout(Duration::from_secs(10), docker.list_containers(Some(opts))).await
    else {
        return Vec::new();
    };
    let host = host_name();
    let mut reaped = Vec::new();
    for c in list {
        let (Some(id), Some(labels)) = (c.id, c.labels) else {
            continue;
        };
        if !owner_gone(&labels, &host) {
            continue;
        }
        if remove(docker, &id).await.is_ok() {
            reaped.push(Orphan {
                id,
                session: labels.get(SESSION_LABEL).cloned().unwrap_or_default(),
                owner: labels.get(OWNER_PID_LABEL).cloned().unwrap_or_default(),
            });
        }
    }
    reaped
}

/// One line about reaped containers, e.g. for the terminal.
pub fn describe_orphans(reaped: &[Orphan]) -> Option<String> {
    if reaped.is_empty() {
        return None;
    }
    let mut owners: Vec<&str> = reaped.iter().map(|o| o.owner.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    let mut sessions: Vec<&str> = reaped.iter().map(|o| o.session.as_str()).collect();
    sessions.sort_unstable();
    sessions.dedup();
    Some(format!(
        "removed {} container(s) left by {} dead session(s) ({}; owner pid(s) {} no longer running)",
        reaped.len(),
        sessions.len(),
        sessions.join(", "),
        owners.join(", ")
    ))
}

/// Where the Docker client looks: `DOCKER_HOST`, or the default socket.
pub fn location() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.is_empty() => format!("{h} (from DOCKER_HOST)"),
        _ => "unix:///var/run/docker.sock (the default; DOCKER_HOST is not set)".into(),
    }
}

/// Docker is not usable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Docker is not reachable at {location}: {cause}")]
pub struct Unreachable {
    /// Where the client looked.
    pub location: String,
    /// What went wrong.
    pub cause: String,
}

impl Unreachable {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        "start Docker (`sudo systemctl start docker`, or `dockerd &` as root) or point DOCKER_HOST at a running daemon"
    }
}

/// Connects and pings the daemon, within `limit`.
pub async fn connect(limit: Duration) -> Result<(Docker, String), Unreachable> {
    let fail = |cause: String| Unreachable {
        location: location(),
        cause,
    };
    let docker = Docker::connect_with_defaults().map_err(|e| fail(e.to_string()))?;
    match tokio::time::timeout(limit, docker.version()).await {
        Err(_) => Err(fail(format!("no answer within {}s", limit.as_secs()))),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Ok(Ok(v)) => Ok((docker, v.version.unwrap_or_else(|| "unknown".into()))),
    }
}

/// Whether the image is present locally.
pub async fn image_present(docker: &Docker, image: &str) -> bool {
    docker.inspect_image(image).await.is_ok()
}

/// Ids of the containers (running or not) labelled with this session.
pub async fn session_containers(docker: &Docker, session: &str) -> Vec<String> {
    labelled(docker, SESSION_LABEL, session).await
}

/// What Docker says about a container's state.
#[derive(Debug, Clone)]
pub struct ContainerState {
    /// Whether it is running.
    pub running: bool,
    /// `running`, `exited`, `dead`, …
    pub status: String,
    /// Its exit code, once it stopped.
    pub exit_code: Option<i64>,
}

impl ContainerState {
    /// "exited with code 137", "running", …
    pub fn describe(&self) -> String {
        match (self.running, self.exit_code) {
            (true, _) => "running".into(),
            (false, Some(c)) => format!("{} with code {c}", self.status),
            (false, None) => self.status.clone(),
        }
    }
}

/// The state of a container; `Err` when Docker does not know it.
pub async fn inspect(docker: &Docker, id: &str) -> Result<ContainerState, String> {
    let info = docker
        .inspect_container(id, None)
        .await
        .map_err(|e| match e {
            testcontainers::bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            } => "the container no longer exists".to_string(),
            e => e.to_string(),
        })?;
    let state = info.state.unwrap_or_default();
    Ok(ContainerState {
        running: state.running.unwrap_or(false),
        status: state
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into()),
        exit_code: state.exit_code,
    })
}

/// The last `lines` lines a container wrote (stdout and stderr), at most
/// 5 s to get them; empty when Docker cannot give them.
pub async fn last_log_lines(docker: &Docker, id: &str, lines: usize) -> String {
    use futures_util::StreamExt;
    let opts = testcontainers::bollard::query_parameters::LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&lines.to_string())
        .build();
    let collect = async {
        let mut out = String::new();
        let mut stream = docker.logs(id, Some(opts));
        while let Some(Ok(chunk)) = stream.next().await {
            out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        out
    };
    tokio::time::timeout(Duration::from_secs(5), collect)
        .await
        .unwrap_or_default()
}

/// Ids of the containers (running or not) carrying `key=value`.
pub async fn labelled(docker: &Docker, key: &str, value: &str) -> Vec<String> {
    let filters: HashMap<String, Vec<String>> =
        HashMap::from([("label".to_string(), vec![format!("{key}={value}")])]);
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(opts))
        .await
        .map(|v| v.into_iter().filter_map(|c| c.id).collect())
        .unwrap_or_default()
}

/// Force-removes a container and its anonymous volumes.
pub async fn remove(docker: &Docker, id: &str) -> Result<(), String> {
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    docker
        .remove_container(id, Some(opts))
        .await
        .map_err(|e| e.to_string())
}

/// A host-config change publishing `ports` on 127.0.0.1 only, each on a
/// random free host port (testcontainers would publish on every interface).
pub fn loopback_ports(ports: &[u16]) -> impl Fn(&mut HostConfig) + Send + Sync + 'static {
    let ports = ports.to_vec();
    move |hc: &mut HostConfig| {
        hc.publish_all_ports = Some(false);
        hc.port_bindings = Some(
            ports
                .iter()
                .map(|p| {
                    (
                        format!("{p}/tcp"),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".into()),
                            host_port: Some(String::new()),
                        }]),
                    )
                })
                .collect(),
        );
        hc.privileged = Some(false);
        hc.network_mode = None;
    }
}

/// Keeps an `Arc` of the modifier so it can be shared by requests.
pub fn loopback(ports: &[u16]) -> Arc<dyn Fn(&mut HostConfig) + Send + Sync> {
    Arc::new(loopback_ports(ports))
}
