//! `tiered.toml`: the one place a workspace configures the harness.
//!
//! [`Config::load`] looks for `tiered.toml` at the workspace root, then
//! `.config/tiered.toml` (both at once is an error: one place only), or the
//! file named by `TIERED_CONFIG`. It is parsed once with serde, unknown keys
//! rejected, and every error names the file, line, column and key — a
//! [`ConfigError`] is written for the person who has to fix the file; an
//! unknown key close to a valid one (a typo) comes with "did you mean".
//! `tiered.reference.toml` at the repository root documents every key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// Environment variable naming the configuration file to use instead.
pub const CONFIG_ENV: &str = "TIERED_CONFIG";

/// The parsed configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where it was read from (`None`: no file, defaults only).
    pub path: Option<PathBuf>,
    /// `[gates.NAME]` tables, by name.
    pub gates: BTreeMap<String, GateSpec>,
    /// `[services.NAME]` tables, by service name.
    pub services: BTreeMap<String, ServiceSettings>,
    /// `[mocking]`: the NO MOCKING check's extra crates and allowances.
    pub mocking: MockingConfig,
    /// `[sla]`: thresholds per operation.
    pub sla: BTreeMap<String, SlaSpec>,
    /// `retries = N`: reruns after a failure for tests that set none.
    pub retries: Option<u32>,
    /// `[timeouts] tierN = "…"`: a test's limit, by tier, when it sets none.
    pub timeouts: BTreeMap<u8, std::time::Duration>,
    /// `[isolation] tierN = "worker" | "process"`: how a tier's tests are
    /// isolated under `cargo tiered` when they do not say.
    pub isolation: BTreeMap<u8, crate::tier::Isolation>,
}

/// What one SLA requires.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlaSpec {
    /// Most p95 latency.
    pub p95: Option<std::time::Duration>,
    /// Most p99 latency.
    pub p99: Option<std::time::Duration>,
    /// Most failed fraction of operations, 0–1.
    pub max_error_rate: Option<f64>,
    /// Least operations per second (load scenarios).
    pub min_throughput: Option<f64>,
}

/// `[services.NAME]`: how to run one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSettings {
    /// The image, `name:tag` (a tag is required).
    pub image: Option<String>,
    /// PostgreSQL only: migrations directory (default `migrations/` when it exists).
    pub migrations: Option<String>,
    /// PostgreSQL only: SQL files applied to the template after migrations.
    pub sql_fixtures: Vec<String>,
    /// PostgreSQL only: keep the server's data directory in memory (a tmpfs
    /// mount); `false` keeps it on the container's disk. Default `true`.
    pub tmpfs: Option<bool>,
}

/// `[mocking]`: what the NO MOCKING check looks for, and what it allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MockingConfig {
    /// Crates to treat as mocking crates besides the built-in list.
    pub crates: Vec<String>,
    /// Crates allowed in tiers 2–3 anyway, each with its written reason.
    pub allow: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    gates: BTreeMap<String, RawGate>,
    #[serde(default)]
    services: RawServices,
    #[serde(default)]
    mocking: RawMocking,
    #[serde(default)]
    sla: BTreeMap<String, Spanned<toml::Value>>,
    retries: Option<u32>,
    #[serde(default)]
    timeouts: RawPerTier,
    #[serde(default)]
    isolation: RawPerTier,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPerTier {
    tier1: Option<Spanned<String>>,
    tier2: Option<Spanned<String>>,
    tier3: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServices {
    postgres: Option<RawPostgres>,
    redis: Option<RawImage>,
    neo4j: Option<RawImage>,
    chroma: Option<RawImage>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPostgres {
    image: Option<Spanned<String>>,
    migrations: Option<String>,
    #[serde(default)]
    sql_fixtures: Vec<String>,
    tmpfs: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawImage {
    image: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMocking {
    #[serde(default)]
    crates: Vec<String>,
    #[serde(default)]
    allow: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    description: Option<String>,
    min_discovery_rate: Option<Spanned<f64>>,
    min_execution_rate: Option<Spanned<f64>>,
    min_success_rate: Option<Spanned<f64>>,
    max_failed: Option<u64>,
    services_operational: Option<bool>,
    no_mocking: Option<bool>,
    sla_met: Option<bool>,
    tiers: Option<Spanned<Vec<u8>>>,
}

/// One gate as configured: the criteria it sets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateSpec {
    /// What the gate is for, shown in reports.
    pub description: Option<String>,
    /// Least discovery rate, percent.
    pub min_discovery_rate: Option<f64>,
    /// Least execution rate, percent.
    pub min_execution_rate: Option<f64>,
    /// Least success rate, percent.
    pub min_success_rate: Option<f64>,
    /// Most failed (or errored) tests.
    pub max_failed: Option<u64>,
    /// Every service the run needed came up and answered.
    pub services_operational: Option<bool>,
    /// No tier-2/3 test source uses a mocking crate (unless allowed).
    pub no_mocking: Option<bool>,
    /// Every SLA judged in the run holds.
    pub sla_met: Option<bool>,
    /// Tiers the gate judges; `None`: the tiers of the run.
    pub tiers: Option<Vec<u8>>,
}

/// `tiered.toml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid: bad TOML, an unknown key, a wrong type, a value
    /// out of range.
    #[error("{path}:{line}:{column}: {message}{}{}", key_suffix(.key), suggestion_suffix(.suggestion))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending value.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Dotted key (`gates.release.min_success_rate`), when known.
        key: Option<String>,
        /// What is wrong.
        message: String,
        /// For an unknown key, the valid key it is probably a typo of.
        suggestion: Option<String>,
    },
    /// Both `tiered.toml` and `.config/tiered.toml` exist.
    #[error("both {first} and {second} exist; keep one")]
    Ambiguous {
        /// One.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
}

fn key_suffix(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(" (key `{k}`)"))
        .unwrap_or_default()
}

fn suggestion_suffix(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

/// For a message naming an unknown key and the expected ones — serde's
/// "unknown field `x`, expected one of `a`, `b`" or "expected `a`", and the
/// SLA table's own — the expected key `x` is most likely a typo of.
fn suggestion_for(message: &str) -> Option<String> {
    let (head, expected) = message.split_once("expected")?;
    if !head.starts_with("unknown ") {
        return None;
    }
    let unknown = head.split('`').nth(1)?;
    let valid = expected.split('`').skip(1).step_by(2);
    closest(unknown, valid).map(str::to_string)
}

/// The name in `valid` nearest to `unknown`, when near enough to be a typo:
/// at most one edit per three characters of the longer name (at least one;
/// a transposition is one edit), ignoring case.
fn closest<'a>(unknown: &str, valid: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = unknown.to_lowercase();
    let len = unknown.chars().count();
    valid
        .filter(|v| *v != unknown)
        .map(|v| (strsim::damerau_levenshtein(&lower, v), v))
        .filter(|(d, v)| *d <= (len.max(v.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

impl ConfigError {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            ConfigError::Read { .. } => {
                "check the file's permissions, or set TIERED_CONFIG to another file"
            }
            ConfigError::Invalid { .. } => {
                "every key and its default is documented in tiered.reference.toml"
            }
            ConfigError::Ambiguous { .. } => {
                "move everything into one of them and delete the other"
            }
        }
    }
}

impl Config {
    /// Finds and parses the configuration of the workspace rooted at `root`.
    pub fn load(root: &Path) -> Result<Config, ConfigError> {
        let path = match std::env::var_os(CONFIG_ENV) {
            Some(p) => Some(PathBuf::from(p)),
            None => {
                let top = root.join("tiered.toml");
                let nested = root.join(".config").join("tiered.toml");
                match (top.is_file(), nested.is_file()) {
                    (true, true) => {
                        return Err(ConfigError::Ambiguous {
                            first: top,
                            second: nested,
                        })
                    }
                    (true, false) => Some(top),
                    (false, true) => Some(nested),
                    (false, false) => None,
                }
            }
        };
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Config::parse(&text, &path)
    }

    /// The configuration of the workspace that contains `dir`: the nearest
    /// ancestor with a `tiered.toml` (or `.config/tiered.toml`), else
    /// defaults. Returns it with that root (or `dir`).
    pub fn discover(dir: &Path) -> Result<(Config, PathBuf), ConfigError> {
        if std::env::var_os(CONFIG_ENV).is_some() {
            return Ok((Config::load(dir)?, dir.to_path_buf()));
        }
        for anc in dir.ancestors() {
            if anc.join("tiered.toml").is_file() || anc.join(".config/tiered.toml").is_file() {
                return Ok((Config::load(anc)?, anc.to_path_buf()));
            }
        }
        Ok((Config::default(), dir.to_path_buf()))
    }

    /// Parses configuration text; `path` is used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid =
            |span: Option<std::ops::Range<usize>>, key: Option<String>, message: String| {
                let (line, column) = line_col(text, span.map_or(0, |s| s.start));
                ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    key,
                    suggestion: suggestion_for(&message),
                    message,
                }
            };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| invalid(e.span(), None, e.message().trim().to_string()))?;
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e
                .path()
                .to_string()
                .replace(".$__serde_spanned_private_value", "");
            let key = (key != "." && !key.is_empty()).then_some(key);
            let inner = e.into_inner();
            invalid(inner.span(), key, inner.message().trim().to_string())
        })?;
        let mut gates = BTreeMap::new();
        for (name, g) in raw.gates {
            let rate = |field: &str, v: Option<Spanned<f64>>| -> Result<Option<f64>, ConfigError> {
                match v {
                    None => Ok(None),
                    Some(s) if (0.0..=100.0).contains(s.get_ref()) => Ok(Some(*s.get_ref())),
                    Some(s) => Err(invalid(
                        Some(s.span()),
                        Some(format!("gates.{name}.{field}")),
                        format!(
                            "{} is not a percentage: a rate is between 0 and 100",
                            s.get_ref()
                        ),
                    )),
                }
            };
            let tiers = match g.tiers {
                None => None,
                Some(s) => {
                    if let Some(bad) = s.get_ref().iter().find(|t| !(1..=3).contains(*t)) {
                        return Err(invalid(
                            Some(s.span()),
                            Some(format!("gates.{name}.tiers")),
                            format!("unknown tier {bad}: tiers are 1, 2 and 3"),
                        ));
                    }
                    Some(s.into_inner())
                }
            };
            if g.min_discovery_rate.is_none()
                && g.min_execution_rate.is_none()
                && g.min_success_rate.is_none()
                && g.max_failed.is_none()
                && g.services_operational != Some(true)
                && g.no_mocking != Some(true)
                && g.sla_met != Some(true)
            {
                let at = text.find(&format!("[gates.{name}]"));
                return Err(invalid(
                    at.map(|a| a..a),
                    Some(format!("gates.{name}")),
                    format!("gate `{name}` sets no criterion; add min_discovery_rate, min_execution_rate, min_success_rate, max_failed, services_operational, no_mocking or sla_met"),
                ));
            }
            let spec = GateSpec {
                description: g.description,
                min_discovery_rate: rate("min_discovery_rate", g.min_discovery_rate)?,
                min_execution_rate: rate("min_execution_rate", g.min_execution_rate)?,
                min_success_rate: rate("min_success_rate", g.min_success_rate)?,
                max_failed: g.max_failed,
                services_operational: g.services_operational,
                no_mocking: g.no_mocking,
                sla_met: g.sla_met,
                tiers,
            };
            gates.insert(name, spec);
        }
        let mut services = BTreeMap::new();
        let image = |name: &str,
                     v: Option<Spanned<String>>|
         -> Result<Option<String>, ConfigError> {
            let Some(v) = v else { return Ok(None) };
            let text = v.get_ref().trim().to_string();
            let tag = text
                .rsplit_once(':')
                .map(|(_, t)| t)
                .filter(|t| !t.contains('/'));
            match tag {
                Some(t) if !t.is_empty() && t != "latest" => Ok(Some(text)),
                _ => Err(invalid(
                    Some(v.span()),
                    Some(format!("services.{name}.image")),
                    format!("image `{text}` has no pinned tag; write it as name:tag, e.g. \"postgres:15.10\" (never `latest`)"),
                )),
            }
        };
        if let Some(pg) = raw.services.postgres {
            services.insert(
                "postgres".to_string(),
                ServiceSettings {
                    image: image("postgres", pg.image)?,
                    migrations: pg.migrations,
                    sql_fixtures: pg.sql_fixtures,
                    tmpfs: pg.tmpfs,
                },
            );
        }
        for (name, table) in [
            ("redis", raw.services.redis),
            ("neo4j", raw.services.neo4j),
            ("chroma", raw.services.chroma),
        ] {
            if let Some(t) = table {
                services.insert(
                    name.to_string(),
                    ServiceSettings {
                        image: image(name, t.image)?,
                        ..ServiceSettings::default()
                    },
                );
            }
        }
        let mut allow = BTreeMap::new();
        for (krate, reason) in raw.mocking.allow {
            if reason.get_ref().trim().is_empty() {
                return Err(invalid(
                    Some(reason.span()),
                    Some(format!("mocking.allow.{krate}")),
                    format!("allowing `{krate}` needs a written reason"),
                ));
            }
            allow.insert(krate, reason.into_inner());
        }
        let mut sla = BTreeMap::new();
        for (op, value) in raw.sla {
            let span = value.span();
            let key = format!("sla.{op}");
            let dur = |v: &toml::Value, field: &str| -> Result<std::time::Duration, ConfigError> {
                let text = v.as_str().ok_or_else(|| {
                    invalid(
                        Some(span.clone()),
                        Some(format!("{key}{field}")),
                        "expected a duration such as \"500ms\"".into(),
                    )
                })?;
                crate::duration::parse(text)
                    .map_err(|e| invalid(Some(span.clone()), Some(format!("{key}{field}")), e))
            };
            let spec = match value.get_ref() {
                v @ toml::Value::String(_) => SlaSpec {
                    p95: Some(dur(v, "")?),
                    ..SlaSpec::default()
                },
                toml::Value::Table(t) => {
                    let mut spec = SlaSpec::default();
                    for (k, v) in t {
                        match k.as_str() {
                            "p95" => spec.p95 = Some(dur(v, ".p95")?),
                            "p99" => spec.p99 = Some(dur(v, ".p99")?),
                            "max_error_rate" | "min_throughput" => {
                                let n = v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
                                let n = n.filter(|n| *n >= 0.0 && (k != "max_error_rate" || *n <= 1.0)).ok_or_else(|| {
                                    invalid(
                                        Some(span.clone()),
                                        Some(format!("{key}.{k}")),
                                        if k == "max_error_rate" {
                                            "expected a fraction between 0 and 1, e.g. 0.1".into()
                                        } else {
                                            "expected operations per second, a number >= 0".into()
                                        },
                                    )
                                })?;
                                if k == "max_error_rate" {
                                    spec.max_error_rate = Some(n);
                                } else {
                                    spec.min_throughput = Some(n);
                                }
                            }
                            other => {
                                return Err(invalid(
                                    Some(span.clone()),
                                    Some(format!("{key}.{other}")),
                                    format!("unknown SLA key `{other}`, expected one of `p95`, `p99`, `max_error_rate`, `min_throughput`"),
                                ))
                            }
                        }
                    }
                    spec
                }
                _ => {
                    return Err(invalid(
                        Some(span),
                        Some(key),
                        "expected a duration (\"500ms\", the p95 threshold) or a table { p95 = \"500ms\", p99 = \"1s\", max_error_rate = 0.1, min_throughput = 50 }".into(),
                    ))
                }
            };
            sla.insert(op, spec);
        }
        let mut timeouts = BTreeMap::new();
        for (tier, value) in [
            (1u8, raw.timeouts.tier1),
            (2, raw.timeouts.tier2),
            (3, raw.timeouts.tier3),
        ] {
            let Some(v) = value else { continue };
            let d = crate::duration::parse(v.get_ref()).map_err(|message| {
                invalid(
                    Some(v.span()),
                    Some(format!("timeouts.tier{tier}")),
                    message,
                )
            })?;
            timeouts.insert(tier, d);
        }
        let mut isolation = BTreeMap::new();
        for (tier, value) in [
            (1u8, raw.isolation.tier1),
            (2, raw.isolation.tier2),
            (3, raw.isolation.tier3),
        ] {
            let Some(v) = value else { continue };
            let mode = match v.get_ref().trim() {
                "worker" => crate::tier::Isolation::Worker,
                "process" => crate::tier::Isolation::Process,
                other => {
                    return Err(invalid(
                        Some(v.span()),
                        Some(format!("isolation.tier{tier}")),
                        format!("unknown isolation `{other}`; expected \"worker\" (tests share long-lived worker processes) or \"process\" (a fresh process per test)"),
                    ))
                }
            };
            isolation.insert(tier, mode);
        }
        Ok(Config {
            path: Some(path.to_path_buf()),
            isolation,
            gates,
            sla,
            services,
            mocking: MockingConfig {
                crates: raw.mocking.crates,
                allow,
            },
            retries: raw.retries,
            timeouts,
        })
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
