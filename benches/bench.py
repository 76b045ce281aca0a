#!/usr/bin/env python3
"""The benchmark suite of cargo-tiered (see BENCHMARKS.md).

Generates the crates it needs under target/bench/, builds them, runs each
comparison in one process (A and B alternate within every round, several
rounds, medians), prints one table per item and writes them as markdown to
target/bench/results.md (raw samples: target/bench/results.json).

Items: overhead, memory, start, isolation, schedule, compile. Python 3 stdlib only.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "target" / "bench"
# One target directory for every generated crate: cargo keeps the builds of
# different feature sets apart inside it, and shared dependencies compile once.
GEN_TARGET = BENCH / "target"
# Where cargo-tiered itself is built.
TOOL_TARGET = REPO / "target"
# Set by main(): target/release/cargo-tiered, as `cargo install` builds it
# (or target/debug/ with --debug-tool).
CARGO_TIERED = TOOL_TARGET / "release" / "cargo-tiered"
STATE = BENCH / "state"
LOG = BENCH / "log.txt"

ITEMS = ["overhead", "memory", "start", "isolation", "schedule", "compile"]
SERVICES = ["postgres", "redis", "neo4j", "chroma"]
# The crates item 5 looks for in a build.
SERVICE_CRATES = ["sqlx", "neo4rs", "redis", "reqwest", "testcontainers"]


class BenchError(Exception):
    """A step failed: the suite stops with this message."""


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def say(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def log(msg):
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "a") as f:
        f.write(msg.rstrip("\n") + "\n")


def median(xs):
    return statistics.median(xs) if xs else None


def write_if_changed(path, text):
    """Writes a generated file only when its content changes, so cargo does
    not rebuild what did not change."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return
    path.write_text(text)


def base_env(**extra):
    """The environment for every command: the caller's, minus anything that
    would point tiered at other sessions or wrap rustc, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TIERED_")
        and k not in ("CARGO_TARGET_DIR", "RUSTC_WRAPPER", "DATABASE_URL", "CARGO_TIERED")
    }
    env["CI"] = "1"  # no progress drawing
    env["CARGO_TERM_COLOR"] = "never"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def tail(text, n=25):
    lines = text.rstrip().splitlines()
    return "\n".join(lines[-n:])


def run(cmd, *, what, cwd=None, env=None, ok=(0,), timeout=3600, stdout=None, input=None):
    """Runs a command to completion; raises BenchError on a bad exit code.
    Returns (stdout, stderr) as text."""
    cmd = [str(c) for c in cmd]
    log(f"$ {' '.join(cmd)}  (cwd={cwd or os.getcwd()})")
    try:
        p = subprocess.run(
            cmd,
            cwd=cwd,
            env=env or base_env(),
            stdin=None if input is not None else subprocess.DEVNULL,
            input=input,
            stdout=stdout if stdout is not None else subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )
    except FileNotFoundError as e:
        raise BenchError(f"{what}: cannot run {cmd[0]}: {e}")
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what}: did not finish within {timeout}s: {' '.join(cmd)}")
    out = p.stdout.decode(errors="replace") if isinstance(p.stdout, bytes) else ""
    err = p.stderr.decode(errors="replace")
    log(err)
    if p.returncode not in ok:
        raise BenchError(
            f"{what} failed (exit {p.returncode}): {' '.join(cmd)}\n{tail(err or out)}"
        )
    return out, err


class Sample:
    def __init__(self, wall, maxrss_kib, code, launch_ns, stdout_path, stderr):
        self.wall = wall  # seconds
        self.maxrss_kib = maxrss_kib
        self.code = code
        self.launch_ns = launch_ns
        self.stdout_path = stdout_path
        self.stderr = stderr

    def stdout(self):
        return Path(self.stdout_path).read_text(errors="replace") if self.stdout_path else ""


SPAWN = BENCH / "spawn"


def ensure_spawn():
    """Compiles benches/spawn.c, the small launcher that times a command and
    reads its peak RSS (see there why Python's own fork would not do)."""
    src = REPO / "benches" / "spawn.c"
    if SPAWN.exists() and SPAWN.stat().st_mtime >= src.stat().st_mtime:
        return
    cc = os.environ.get("CC", "cc")
    run([cc, "-O2", "-o", SPAWN, src], what="compiling benches/spawn.c")


def timed(cmd, *, what, cwd, env, ok=(0,), stdout_path=None, timeout=1800):
    """Runs one command through benches/spawn.c: wall time from just before
    its fork to its exit (wait4), its peak RSS, its launch time."""
    cmd = [str(c) for c in cmd]
    log(f"$ [timed] {' '.join(cmd)}  (cwd={cwd})")
    stat = Path(tempfile.mkstemp(prefix="spawn-", dir=BENCH)[1])
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    err = tempfile.TemporaryFile()
    try:
        p = subprocess.Popen([str(SPAWN), str(stat), *cmd], cwd=cwd, env=env,
                             stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.terminate()  # spawn passes it on to the command
            p.wait()
            raise BenchError(f"{what}: did not finish within {timeout}s: {' '.join(cmd)}")
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        fields = stat.read_text().split()
        if len(fields) != 4:
            raise BenchError(f"{what}: the launcher reported nothing (exit {p.returncode}):\n{tail(stderr)}")
        code, maxrss, wall_ns, launch_ns = (int(x) for x in fields)
    finally:
        if stdout_path:
            out.close()
        err.close()
        stat.unlink(missing_ok=True)
    if code not in ok:
        raise BenchError(f"{what} failed (exit {code}): {' '.join(cmd)}\n{tail(stderr)}")
    return Sample(wall_ns / 1e9, maxrss, code, launch_ns, stdout_path, stderr)


def fmt_s(x):
    if x is None:
        return "n/a"
    if x >= 100:
        return f"{x:.0f} s ({x / 60:.1f} min)"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 0.01:
        return f"{x * 1000:.0f} ms"
    return f"{x * 1000:.1f} ms"


def fmt_ms(x):
    if x is None:
        return "n/a"
    return f"{x:.0f} ms" if x >= 10 else f"{x:.1f} ms"


def fmt_mib(kib):
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}×"


def met(ok):
    if ok is None:
        return "n/a"
    return "yes" if ok else "**no**"


class Table:
    def __init__(self, title, columns=("benchmark", "A", "B", "ratio", "target", "met?")):
        self.title = title
        self.columns = columns
        self.rows = []
        self.notes = []

    def row(self, *cells):
        self.rows.append([str(c) for c in cells])

    def note(self, text):
        self.notes.append(text)

    def markdown(self):
        out = [f"### {self.title}", ""]
        out.append("| " + " | ".join(self.columns) + " |")
        out.append("|" + "---|" * len(self.columns))
        for r in self.rows:
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        if self.notes:
            out.append("")
            out.extend(f"- {n}" for n in self.notes)
        out.append("")
        return "\n".join(out)


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------


def ensure_cargo_tiered(debug):
    profile = [] if debug else ["--release"]
    say(f"building cargo-tiered (cargo build {' '.join(profile)} -p cargo-tiered; the first time "
        "takes a while)")
    run(
        ["cargo", "build", *profile, "-p", "cargo-tiered", "--manifest-path", REPO / "Cargo.toml"],
        what="building cargo-tiered",
        env=base_env(CARGO_TARGET_DIR=TOOL_TARGET),
    )
    if not CARGO_TIERED.is_file():
        raise BenchError(f"cargo-tiered was built but {CARGO_TIERED} does not exist")


def seed_lockfile(crate):
    """Starts a generated crate from the repo's Cargo.lock, so it resolves
    to the same dependency versions as the project (cargo prunes the rest)."""
    lock = crate / "Cargo.lock"
    if not lock.exists():
        shutil.copyfile(REPO / "Cargo.lock", lock)


def build_tests(crate, *, target_dir=GEN_TARGET, what=None):
    """`cargo build --tests` (what cargo tiered runs); returns {test target
    name: executable}."""
    out, _ = run(
        [
            "cargo", "build", "--tests", "--message-format=json-render-diagnostics",
            "--manifest-path", crate / "Cargo.toml",
        ],
        what=what or f"building {crate.name}",
        env=base_env(CARGO_TARGET_DIR=target_dir),
    )
    exes = {}
    for line in out.splitlines():
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("reason") != "compiler-artifact" or not m.get("executable"):
            continue
        if "test" in m["target"]["kind"] and m.get("profile", {}).get("test"):
            exes[m["target"]["name"]] = Path(m["executable"])
    if not exes:
        raise BenchError(f"building {crate.name} produced no test executable")
    return exes


def package_name(package_id):
    # "registry+https://…#sqlx@0.8.6", "path+file:///x#0.1.0" or the old
    # "sqlx 0.8.6 (registry+…)" form.
    m = re.search(r"#([^@#/]+)@[^@]*$", package_id)
    if m:
        return m.group(1)
    if " " in package_id:
        return package_id.split(" ", 1)[0]
    m = re.search(r"/([^/#]+)#[^@]*$", package_id)
    return m.group(1) if m else package_id


def cargo_tiered_cmd(*args):
    return [CARGO_TIERED, "tiered", *args]


def harness_env(crate, **extra):
    """The environment `cargo tiered` gives a harness binary (run/plan.rs
    `harness_command`): the package's manifest dir and name, its own path."""
    return base_env(
        CARGO_MANIFEST_DIR=crate,
        CARGO_PKG_NAME=crate.name,
        CARGO_TIERED=CARGO_TIERED,
        **extra,
    )


def passed_count(stdout):
    """The `N passed` of libtest's (and libtest-mimic's) summary line."""
    m = re.search(r"test result: \w+\. (\d+) passed; (\d+) failed", stdout)
    if not m:
        return None
    if int(m.group(2)) != 0:
        raise BenchError(f"a benchmark test failed:\n{tail(stdout)}")
    return int(m.group(1))


# --------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------


def manifest(name, deps, tests, *, dev=True):
    lines = [
        "# Generated by benches/bench.py; rewritten on every run.",
        "[package]",
        f'name = "{name}"',
        'version = "0.0.0"',
        'edition = "2021"',
        "publish = false",
        "autotests = false",
        "",
        "# Its own workspace: not a member of the repository's.",
        "[workspace]",
        "",
        "[dev-dependencies]" if dev else "[dependencies]",
        *deps,
        "",
    ]
    for tname, path, harness in tests:
        lines += ["[[test]]", f'name = "{tname}"', f'path = "{path}"']
        if not harness:
            lines.append("harness = false")
        lines.append("")
    return "\n".join(lines)


def tiered_dep(default_features):
    if default_features:
        return f'tiered = {{ path = "{REPO}" }}'
    return f'tiered = {{ path = "{REPO}", default-features = false }}'


def test_names(n):
    """Module path and function name of the i-th generated test: modules of
    100 tests each, as a real suite spreads its tests over files."""
    width = len(str(n - 1))
    for i in range(n):
        yield f"m{i // 100:03}", f"t{i:0{width}}"


def gen_overhead(n):
    root = BENCH / "overhead"
    body = "assert_eq!(std::hint::black_box(1) + 1, 2);"

    def modules(attr, vis=""):
        out, current = [], None
        for mod, fn in test_names(n):
            if mod != current:
                if current is not None:
                    out.append("}")
                out.append(f"mod {mod} {{")
                current = mod
            if attr:
                out.append(f"    {attr}")
            out.append(f"    {vis}fn {fn}() {{ {body} }}")
        out.append("}")
        return "\n".join(out) + "\n"

    crates = {}
    # tiered, tier 1 only, default-features = false.
    c = root / f"tiered-{n}"
    write_if_changed(c / "Cargo.toml", manifest(
        f"bench-overhead-tiered-{n}", [tiered_dep(False)], [("suite", "tests/suite.rs", False)]))
    write_if_changed(c / "tests/suite.rs",
                     "//! Generated: trivial tier-1 tests.\n"
                     + modules("#[tiered::test(tier = 1)]") + "\ntiered::main!();\n")
    crates["tiered"] = c
    # Plain #[test] functions under libtest.
    c = root / f"libtest-{n}"
    write_if_changed(c / "Cargo.toml", manifest(
        f"bench-overhead-libtest-{n}", [], [("suite", "tests/suite.rs", True)]))
    write_if_changed(c / "tests/suite.rs", "//! Generated: trivial #[test] functions.\n"
                     + modules("#[test]"))
    crates["libtest"] = c
    # A bare libtest-mimic harness: one Trial per test, nothing else.
    c = root / f"mimic-{n}"
    write_if_changed(c / "Cargo.toml", manifest(
        f"bench-overhead-mimic-{n}", ['libtest-mimic = "0.8"'],
        [("suite", "tests/suite.rs", False)]))
    table = ",\n".join(f'    ("{m}::{f}", {m}::{f} as fn())' for m, f in test_names(n))
    write_if_changed(c / "tests/suite.rs",
                     "//! Generated: trivial tests as bare libtest-mimic trials.\n"
                     + modules(None, "pub ")
                     + f"\nstatic TESTS: &[(&str, fn())] = &[\n{table},\n];\n\n"
                     "fn main() {\n"
                     "    let args = libtest_mimic::Arguments::from_args();\n"
                     "    let trials = TESTS\n"
                     "        .iter()\n"
                     "        .map(|&(name, f)| libtest_mimic::Trial::test(name, move || {\n"
                     "            f();\n"
                     "            Ok(())\n"
                     "        }))\n"
                     "        .collect();\n"
                     "    libtest_mimic::run(&args, trials).exit();\n"
                     "}\n")
    crates["mimic"] = c
    for c in crates.values():
        seed_lockfile(c)
    return crates


def local_images():
    """The `[services.*] image` values of the repository's tiered.toml."""
    text = (REPO / "tiered.toml").read_text()
    try:
        import tomllib

        data = tomllib.loads(text)
        return {
            k: v["image"]
            for k, v in data.get("services", {}).items()
            if isinstance(v, dict) and "image" in v
        }
    except ImportError:
        images, section = {}, None
        for line in text.splitlines():
            m = re.match(r"\s*\[services\.(\w+)\]", line)
            if m:
                section = m.group(1)
                continue
            if line.strip().startswith("["):
                section = None
            m = re.match(r'\s*image\s*=\s*"([^"]+)"', line)
            if m and section:
                images[section] = m.group(1)
        return images


def services_toml(images, services, migrations=None):
    out = ["# Generated by benches/bench.py: the local images of the repository's tiered.toml."]
    for s in services:
        out.append(f"[services.{s}]")
        if s in images:
            out.append(f'image = "{images[s]}"')
        if s == "postgres" and migrations:
            out.append(f'migrations = "{migrations}"')
        out.append("")
    return "\n".join(out)


MARK_FN = """
/// Appends `<name> <unix time in ns>` to the file named by BENCH_MARK_FILE,
/// first thing in a test body: when the test started running.
fn mark(name: &str) {
    use std::io::Write;
    if let Some(path) = std::env::var_os("BENCH_MARK_FILE") {
        let ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        writeln!(f, "{name} {ns}").unwrap();
    }
}
"""


def gen_start(images):
    c = BENCH / "start"
    write_if_changed(c / "Cargo.toml", manifest(
        "bench-start", [tiered_dep(True)], [("services", "tests/services.rs", False)]))
    write_if_changed(c / "tiered.toml", services_toml(images, SERVICES))
    neo4j_image = images.get("neo4j", "neo4j")
    if neo4j_image.split("/")[-1].startswith("neo4j"):
        neo4j_test = ("#[tiered::test(tier = 2)]\n"
                      "async fn uses_neo4j(neo: tiered::Neo4j) {\n"
                      '    mark("neo4j");\n'
                      "    assert!(!neo.uri().is_empty());\n"
                      "}\n")
    else:
        # A Bolt stand-in the neo4rs client of tiered::Neo4j cannot query
        # (README, "What is verified where"): the test needs the service
        # without taking the fixture. Startup is the same.
        neo4j_test = ("#[tiered::test(tier = 2, needs = [\"neo4j\"])]\n"
                      "fn uses_neo4j() {\n"
                      '    mark("neo4j");\n'
                      '    assert!(std::env::var("TIERED_NEO4J_URI").is_ok());\n'
                      "}\n")
    write_if_changed(c / "tests/services.rs", "//! Generated: one tier-2 test per service.\n"
                     + MARK_FN + """
#[tiered::test(tier = 2)]
async fn uses_postgres(pg: tiered::Postgres) {
    mark("postgres");
    assert!(!pg.url().is_empty());
}

#[tiered::test(tier = 2)]
async fn uses_redis(redis: tiered::Redis) {
    mark("redis");
    assert!(!redis.url().is_empty());
}

#[tiered::test(tier = 2)]
async fn uses_chroma(chroma: tiered::Chroma) {
    mark("chroma");
    assert!(!chroma.url().is_empty());
}

""" + neo4j_test + "\ntiered::main!();\n")
    seed_lockfile(c)
    return c


MIGRATIONS = 20


def migration_sql(i):
    """20 small migrations: tables, indexes, a column, a view, a constraint."""
    t = f"t{i:02}"
    kind = i % 4
    if i == 1 or kind == 1:
        return (f"CREATE TABLE {t} (\n    id bigserial PRIMARY KEY,\n    name text NOT NULL,\n"
                f"    value integer NOT NULL DEFAULT 0,\n    created_at timestamptz NOT NULL DEFAULT now()\n);\n"
                f"CREATE INDEX {t}_name_idx ON {t} (name);\n")
    if kind == 2:
        return (f"CREATE TABLE {t} (\n    id bigserial PRIMARY KEY,\n    parent bigint REFERENCES t01 (id),\n"
                f"    label text NOT NULL UNIQUE\n);\n")
    if kind == 3:
        return f"ALTER TABLE t01 ADD COLUMN extra_{i:02} text;\nCREATE INDEX t01_extra_{i:02}_idx ON t01 (extra_{i:02});\n"
    return f"CREATE VIEW v{i:02} AS SELECT id, name, value FROM t01 WHERE value >= {i};\n"


def migration_name(i):
    return f"{i:04}_step_{i:02}.sql"


ISO_EXERCISE_TIERED = """
async fn exercise(pool: &tiered::sqlx::PgPool, name: &str) -> Result<(), tiered::sqlx::Error> {
    tiered::sqlx::query("insert into t01 (name, value) values ($1, 7)")
        .bind(name)
        .execute(pool)
        .await?;
    let (v,): (i32,) = tiered::sqlx::query_as("select value from t01 where name = $1")
        .bind(name)
        .fetch_one(pool)
        .await?;
    assert_eq!(v, 7);
    Ok(())
}
"""

ISO_EXERCISE_SQLX = ISO_EXERCISE_TIERED.replace("tiered::sqlx", "sqlx")


def gen_isolation(images, sizes):
    root = BENCH / "isolation"
    tests = [(f"n{n}", f"tests/n{n}.rs", False) for n in sizes]
    crates = {}
    # tiered: one database per test cloned from the migrated template.
    c = root / "tiered"
    write_if_changed(c / "Cargo.toml", manifest("bench-iso-tiered", [tiered_dep(True)], tests))
    write_if_changed(c / "tiered.toml", services_toml(images, ["postgres"], migrations="migrations"))
    for n in sizes:
        fns = "".join(
            f"\n#[tiered::test(tier = 2)]\nasync fn {f}(pg: tiered::Postgres) -> Result<(), tiered::sqlx::Error> {{\n"
            f'    exercise(pg.pool(), "{f}").await\n}}\n'
            for _, f in test_names(n))
        write_if_changed(c / f"tests/n{n}.rs",
                         f"//! Generated: {n} tests, each on its own migrated database.\n"
                         + ISO_EXERCISE_TIERED + fns + "\ntiered::main!();\n")
    crates["tiered"] = c
    # #[sqlx::test]: creates a database and reruns the migrations per test.
    c = root / "sqlx"
    write_if_changed(c / "Cargo.toml", manifest("bench-iso-sqlx", [
        'sqlx = { version = "0.8", default-features = false, features = ["runtime-tokio", "postgres", "migrate", "macros"] }',
        'tokio = { version = "1", features = ["rt-multi-thread", "macros"] }',
    ], [(t, p, True) for t, p, _ in tests]))
    for n in sizes:
        fns = "".join(
            f'\n#[sqlx::test(migrations = "./migrations")]\nasync fn {f}(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {{\n'
            f'    exercise(&pool, "{f}").await\n}}\n'
            for _, f in test_names(n))
        write_if_changed(c / f"tests/n{n}.rs",
                         f"//! Generated: {n} tests, each on a new database migrated by sqlx.\n"
                         + ISO_EXERCISE_SQLX + fns)
    crates["sqlx"] = c
    for c in crates.values():
        for i in range(1, MIGRATIONS + 1):
            write_if_changed(c / "migrations" / migration_name(i), migration_sql(i))
        seed_lockfile(c)
    return crates


def gen_compile():
    root = BENCH / "compile"
    src = "//! Generated: a tier-1-only suite.\n" + "".join(
        f"\n#[tiered::test(tier = 1)]\nfn unit_{i}() {{ assert_eq!({i} * 2, {2 * i}); }}\n"
        for i in range(5)) + "\ntiered::main!();\n"
    crates = {}
    for key, default in (("lean", False), ("full", True)):
        c = root / key
        write_if_changed(c / "Cargo.toml", manifest(
            f"bench-compile-{key}", [tiered_dep(default)], [("unit", "tests/unit.rs", False)]))
        write_if_changed(c / "tests/unit.rs", src)
        seed_lockfile(c)
        crates[key] = c
    return crates


# --------------------------------------------------------------------------
# Item 1 and 2: harness overhead, memory
# --------------------------------------------------------------------------


def bench_overhead(cfg, want_overhead, want_memory, tables, raw):
    n, rounds = cfg.tests, cfg.fast_rounds
    say(f"overhead: generating 3 crates of {n} trivial tests")
    crates = gen_overhead(n)
    exes = {}
    for key, c in crates.items():
        say(f"overhead: building {c.name} (first time: a while for {n} tests)")
        exes[key] = build_tests(c)["suite"]
    tiered_crate = crates["tiered"]
    outs = BENCH / "overhead" / "out"
    outs.mkdir(parents=True, exist_ok=True)
    threads = ["--test-threads", "2"]

    def run_variant(key):
        stdout = outs / f"{key}.txt"
        s = timed([exes[key], *threads], what=f"{key} harness", cwd=crates[key],
                  env=base_env(), stdout_path=stdout)
        got = passed_count(s.stdout())
        if got != n:
            raise BenchError(f"{key}: {got} tests passed, expected {n}")
        return s

    variants = ["tiered", "mimic", "libtest"]
    samples = {k: [] for k in variants}
    for k in variants:  # warm-up: page cache, first-run effects
        run_variant(k)
    for r in range(rounds):
        say(f"overhead: binaries, round {r + 1}/{rounds}")
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for k in order:
            samples[k].append(run_variant(k))
    wall = {k: median([s.wall for s in v]) for k, v in samples.items()}
    rss = {k: median([s.maxrss_kib for s in v]) for k, v in samples.items()}
    raw["overhead_binaries"] = {k: [{"wall_s": s.wall, "maxrss_kib": s.maxrss_kib} for s in v]
                                for k, v in samples.items()}

    if want_overhead:
        # cargo tiered end to end (its `cargo build` finds everything fresh)
        # and cargo tiered list, alternating.
        e2e_cmd = cargo_tiered_cmd("--manifest-path", tiered_crate / "Cargo.toml", "--no-progress",
                                   "--json", BENCH / "overhead" / "report.json", *threads)
        list_cmd = cargo_tiered_cmd("list", "--manifest-path", tiered_crate / "Cargo.toml")
        env = base_env(CARGO_TARGET_DIR=GEN_TARGET, TIERED_STATE_DIR=STATE / "overhead")
        run(e2e_cmd, what="cargo tiered (warm-up, builds)", env=env)
        run(list_cmd, what="cargo tiered list (warm-up)", env=env)
        # What `list` is made of: the cargo commands it runs, and the
        # listing the harness binary writes (TIERED_LIST_OUT).
        parts = {
            "metadata": (["cargo", "metadata", "--format-version", "1", "--manifest-path",
                          tiered_crate / "Cargo.toml"], REPO, env),
            "build": (["cargo", "build", "--tests", "--message-format=json", "--keep-going",
                       "--manifest-path", tiered_crate / "Cargo.toml"], REPO, env),
            "listing": ([exes["tiered"]], tiered_crate,
                        harness_env(tiered_crate, TIERED_LIST_OUT=BENCH / "overhead" / "listing.json")),
        }
        e2e, lst, workers = [], [], []
        part_s = {k: [] for k in parts}
        for r in range(rounds):
            say(f"overhead: cargo tiered and cargo tiered list, round {r + 1}/{rounds}")
            pair = [("e2e", e2e_cmd), ("list", list_cmd)]
            if r % 2:
                pair.reverse()
            for key, cmd in pair:
                s = timed(cmd, what=f"cargo tiered {key}", cwd=REPO, env=env,
                          stdout_path=outs / f"cargo-tiered-{key}.txt")
                (e2e if key == "e2e" else lst).append(s)
                if key == "e2e":
                    # The tests phase: from the first worker started to the
                    # last result, as the report's `timings` has it.
                    rep = json.loads((BENCH / "overhead" / "report.json").read_text())
                    workers.append(rep["timings"]["tests_ms"] / 1000.0)
            for key, (cmd, cwd, penv) in parts.items():
                part_s[key].append(timed(cmd, what=key, cwd=cwd, env=penv).wall)
        report = json.loads((BENCH / "overhead" / "report.json").read_text())
        if report["totals"]["passed"] != n:
            raise BenchError(f"cargo tiered passed {report['totals']['passed']} tests, expected {n}")
        m = re.search(r"^(\d+) tests$", lst[-1].stdout(), re.M)
        listed = int(m.group(1)) if m else 0
        if listed != n:
            raise BenchError(f"cargo tiered list showed {listed} tests, expected {n}")
        wall["cargo tiered"] = median([s.wall for s in e2e])
        wall["workers"] = median(workers)
        wall["cargo tiered list"] = median([s.wall for s in lst])
        raw["overhead_cargo_tiered"] = {"e2e_s": [s.wall for s in e2e], "list_s": [s.wall for s in lst],
                                        "tests_phase_s": workers,
                                        **{f"{k}_s": v for k, v in part_s.items()}}

        # nextest: a process per test; one round in a full run (≈ 45 s each).
        nx_rounds = cfg.nextest_rounds
        nx_cmd = ["cargo", "nextest", "run", "--manifest-path", crates["libtest"] / "Cargo.toml",
                  "--test-threads", "2"]
        nenv = base_env(CARGO_TARGET_DIR=GEN_TARGET)
        run(["cargo", "nextest", "list", "--manifest-path", crates["libtest"] / "Cargo.toml"],
            what="cargo nextest list (warm-up, builds)", env=nenv)
        nx = []
        for r in range(nx_rounds):
            say(f"overhead: cargo nextest run, round {r + 1}/{nx_rounds}")
            nx.append(timed(nx_cmd, what="cargo nextest run", cwd=REPO, env=nenv,
                            stdout_path=outs / "nextest.txt"))
        nx_text = nx[-1].stderr + nx[-1].stdout()
        m = re.search(r"(\d+) tests? run: (\d+) passed", nx_text)
        if not m or int(m.group(2)) != n:
            raise BenchError(f"cargo nextest run did not pass {n} tests:\n{tail(nx_text)}")
        wall["nextest"] = median([s.wall for s in nx])
        raw["overhead_nextest_s"] = [s.wall for s in nx]

        t = Table(f"1. Harness overhead: {n} trivial tests, --test-threads 2 (wall time, median of {rounds})")
        tj, tp, mi, lt = wall["workers"], wall["tiered"], wall["mimic"], wall["libtest"]
        t.row("cargo tiered's tests phase (2 workers, per-test capture) vs bare libtest-mimic",
              fmt_s(tj), fmt_s(mi), fmt_ratio(ratio(tj, mi)), "≤ 1.5×", met(ratio(tj, mi) <= 1.5))
        t.row("tiered harness binary run alone vs bare libtest-mimic",
              fmt_s(tp), fmt_s(mi), fmt_ratio(ratio(tp, mi)), "≤ 2×", met(ratio(tp, mi) <= 2))
        t.row("libtest (#[test]) vs cargo tiered's tests phase: tiered is … faster",
              fmt_s(lt), fmt_s(tj), fmt_ratio(ratio(lt, tj)), "≥ 10×", met(ratio(lt, tj) >= 10))
        t.row("libtest (#[test]) vs bare libtest-mimic", fmt_s(lt), fmt_s(mi),
              fmt_ratio(ratio(lt, mi)), "—", "—")
        t.row(f"cargo nextest run (libtest crate) vs cargo tiered's tests phase [{nx_rounds} round(s)]",
              fmt_s(wall["nextest"]), fmt_s(tj), fmt_ratio(ratio(wall["nextest"], tj)), "—", "—")
        ct = wall["cargo tiered"]
        t.row("cargo tiered end to end (build fresh, not counted) vs bare libtest-mimic",
              fmt_s(ct), fmt_s(mi), fmt_ratio(ratio(ct, mi)), "—", "—")
        t.row("cargo tiered end to end vs libtest (#[test])", fmt_s(ct), fmt_s(lt),
              fmt_ratio(ratio(ct, lt)), "—", "—")
        cl = wall["cargo tiered list"]
        t.row("cargo tiered list (built)", fmt_s(cl), "—", "—", "≤ 100 ms", met(cl <= 0.1))
        for key, label in (("metadata", "`cargo metadata` (run by list)"),
                           ("build", "`cargo build --tests` with nothing to build (run by list)"),
                           ("listing", "the harness binary writing its listing (TIERED_LIST_OUT)")):
            v = median(part_s[key])
            t.row(f"… of which {label}", fmt_s(v), fmt_s(cl), fmt_ratio(ratio(v, cl)), "—", "—")
        t.note("Each binary is run directly with `--test-threads 2`, stdout to a file; wall time from "
               "just before the fork to the exit, by benches/spawn.c (its floor, `true`, is given in item 2).")
        t.note("cargo tiered's tests phase is `timings.tests_ms` of its JSON report, `--test-threads 2`: "
               "from starting the first worker process to the last result, each test's stdout and "
               "stderr captured by redirecting the worker's file descriptors.")
        t.note("`cargo tiered` end to end and `list` include cargo's no-op build check, `cargo metadata`, "
               "the source scan and the listing of the binary; the build itself was done before.")
        if not cfg.quick:
            t.note(f"nextest runs {nx_rounds} round(s) only in a full run: it takes "
                   f"{fmt_s(wall['nextest'])} here, a process per test.")
        tables.append(t)

    if want_memory:
        t = Table(f"2. Memory: peak RSS, {n} trivial tests, --test-threads 2 (median of {rounds})")
        for key, label in (("tiered", "tiered harness binary run alone"),):
            r = ratio(rss[key], rss["libtest"])
            t.row(f"{label} vs libtest", fmt_mib(rss[key]), fmt_mib(rss["libtest"]),
                  fmt_ratio(r), "≤ 1.5×", met(r <= 1.5))
        t.row("bare libtest-mimic vs libtest", fmt_mib(rss["mimic"]), fmt_mib(rss["libtest"]),
              fmt_ratio(ratio(rss["mimic"], rss["libtest"])), "—", "—")
        floor = [timed(["true"], what="true", cwd=BENCH, env=base_env()) for _ in range(3)]
        t.note("Peak RSS (ru_maxrss) of the process, from wait4 on the same runs as item 1; "
               f"the launcher's floor (`true` run the same way) is {fmt_mib(median([x.maxrss_kib for x in floor]))} "
               f"and {fmt_ms(median([x.wall for x in floor]) * 1000)} of wall time.")
        tables.append(t)


# --------------------------------------------------------------------------
# Item 3: session start
# --------------------------------------------------------------------------


def sweep_owned(pid):
    """Removes containers left by a `cargo tiered` process this script
    started (labelled with its pid as owner), should it have died before
    its own teardown."""
    try:
        out, _ = run(["docker", "ps", "-aq", "--filter", f"label=dev.tiered.owner-pid={pid}"],
                     what="docker ps")
    except BenchError:
        return
    ids = out.split()
    if ids:
        say(f"removing {len(ids)} container(s) left by cargo tiered (pid {pid})")
        run(["docker", "rm", "-f", *ids], what="docker rm", ok=(0, 1))


def marks(path):
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, ns = line.split()
            out[name] = int(ns)
    return out


def bench_start(cfg, images, tables, raw):
    rounds = cfg.rounds
    c = gen_start(images)
    say("start: building the services crate")
    exe = build_tests(c)["services"]
    manifest_args = ["--manifest-path", c / "Cargo.toml"]
    cold_env = base_env(CARGO_TARGET_DIR=GEN_TARGET, TIERED_STATE_DIR=STATE / "start-cold")
    shutil.rmtree(STATE / "start-cold", ignore_errors=True)
    work = BENCH / "start"

    def cold(label, filt):
        report = work / f"report-{label}.json"
        if report.exists():
            report.unlink()
        cmd = cargo_tiered_cmd(*manifest_args, "--no-progress", "--json", report, "--", *filt)
        log(f"$ [cold] {' '.join(map(str, cmd))}")
        p = subprocess.Popen([str(x) for x in cmd], cwd=REPO, env=cold_env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=600)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            sweep_owned(p.pid)
        log(err.decode(errors="replace"))
        if not report.exists():
            raise BenchError(f"cargo tiered ({label}) wrote no report (exit {p.returncode}):\n"
                             f"{tail(err.decode(errors='replace'))}")
        rep = json.loads(report.read_text())
        svcs = {s["name"]: s for s in rep.get("services", [])}
        bad = [f"{k}: {s.get('error')}" for k, s in svcs.items() if not s.get("ok")]
        if bad or p.returncode != 0:
            raise BenchError(f"cargo tiered ({label}) exit {p.returncode}; services not up: {bad}\n"
                             f"{tail(out.decode(errors='replace') + err.decode(errors='replace'))}")
        return {k: s["startup_ms"] for k, s in svcs.items()}

    cold("warm-up", ["uses_redis"])  # the build and Docker's first contact
    alone = {s: [] for s in SERVICES}
    together = []
    keys = SERVICES + ["all"]
    for r in range(rounds):
        order = keys[r % len(keys):] + keys[:r % len(keys)]
        for k in order:
            say(f"start: cold, {k}, round {r + 1}/{rounds}")
            if k == "all":
                together.append(cold("all", []))
            else:
                got = cold(k, [f"uses_{k}"])
                if set(got) != {k}:
                    raise BenchError(f"the run for {k} alone started {sorted(got)}")
                alone[k].append(got[k])
    raw["start_cold_alone_ms"] = alone
    raw["start_cold_together_ms"] = together

    # Warm: kept services, time from launch to the first test body.
    warm_state = STATE / "start-warm"
    warm_env = base_env(CARGO_TARGET_DIR=GEN_TARGET, TIERED_STATE_DIR=warm_state)
    warm = {}
    try:
        say("start: cargo tiered services up")
        run(cargo_tiered_cmd("services", "up", "--no-progress", *manifest_args),
            what="cargo tiered services up", env=warm_env)
        markf = work / "marks.txt"

        def first_test(cmd, env, cwd, expect):
            if markf.exists():
                markf.unlink()
            s = timed(cmd, what="warm run", cwd=cwd, env=dict(env, BENCH_MARK_FILE=str(markf)),
                      stdout_path=work / "warm-out.txt")
            m = marks(markf)
            if set(m) != set(expect):
                raise BenchError(f"warm run: tests that ran: {sorted(m)}; expected {sorted(expect)}\n"
                                 f"{tail(s.stderr)}")
            log(s.stderr)
            # "SERVICE postgres reused, answered in 0.14s": the reuse check.
            checks = {k: float(v) * 1000 for k, v in
                      re.findall(r"SERVICE (\w+)\s+reused, answered in ([\d.]+)s", s.stderr)}
            return (min(m.values()) - s.launch_ns) / 1e6, s.wall, checks

        bin_env = harness_env(c, TIERED_STATE_DIR=warm_state)
        # All four, and without neo4j: see the note on the Bolt stand-in.
        skip = ["--skip", "uses_neo4j"]
        variants = {
            ("bin", "all"): ([exe, "--test-threads", "2"], bin_env, c, SERVICES),
            ("e2e", "all"): (cargo_tiered_cmd(*manifest_args, "--no-progress"), warm_env, REPO, SERVICES),
            ("bin", "3"): ([exe, "--test-threads", "2", *skip], bin_env, c, [k for k in SERVICES if k != "neo4j"]),
            ("e2e", "3"): (cargo_tiered_cmd(*manifest_args, "--no-progress", "--", *skip), warm_env, REPO,
                           [k for k in SERVICES if k != "neo4j"]),
        }
        for v in variants.values():  # warm-up
            first_test(*v)
        for r in range(rounds):
            say(f"start: warm, round {r + 1}/{rounds}")
            keys = list(variants)
            keys = keys[r % len(keys):] + keys[:r % len(keys)]
            for k in keys:
                warm.setdefault(k, []).append(first_test(*variants[k]))
    finally:
        say("start: cargo tiered services down")
        run(cargo_tiered_cmd("services", "down", *manifest_args),
            what="cargo tiered services down", env=warm_env)
    raw["start_warm_ms_and_wall_s"] = {"-".join(k): v for k, v in warm.items()}

    t = Table(f"3. Session start: cold (local image present) and warm (median of {rounds})")
    med_alone = {k: median(v) for k, v in alone.items()}
    for k in SERVICES:
        t.row(f"{k} alone: time to ready ({images.get(k, 'default image')})", fmt_ms(med_alone[k]),
              "—", "—", "—", "—")
    slowest_key = max(med_alone, key=lambda k: med_alone[k])
    slowest = med_alone[slowest_key]
    all_ready = median([max(x.values()) for x in together])
    r = ratio(all_ready, slowest)
    t.row(f"all four together (the last one ready) vs the slowest alone ({slowest_key})",
          fmt_ms(all_ready), fmt_ms(slowest), fmt_ratio(r), "≤ 1.1×", met(r <= 1.1))
    for k in SERVICES:
        v = median([x[k] for x in together])
        t.row(f"{k} in the all-four start vs alone", fmt_ms(v), fmt_ms(med_alone[k]),
              fmt_ratio(ratio(v, med_alone[k])), "—", "—")
    others = [k for k in SERVICES if k != "neo4j"]
    slow3 = max(others, key=lambda k: med_alone[k])
    all3 = median([max(x[k] for k in others) for x in together])
    t.row(f"postgres, redis, chroma in the all-four start (the last ready) vs the slowest of them alone ({slow3})",
          fmt_ms(all3), fmt_ms(med_alone[slow3]), fmt_ratio(ratio(all3, med_alone[slow3])), "—", "—")
    for key, label in (("all", "4 services"), ("3", "postgres, redis, chroma")):
        for how, what in (("bin", "the harness binary"), ("e2e", "cargo tiered")):
            v = median([x[0] for x in warm[(how, key)]])
            w = median([x[1] for x in warm[(how, key)]])
            t.row(f"warm ({label} kept by services up): launch of {what} → first test body "
                  f"(whole run: {fmt_s(w)})", fmt_ms(v), "—", "—", "≤ 150 ms", met(v <= 150))
            if how == "bin":
                checks = {k: median([x[2][k] for x in warm[(how, key)] if k in x[2]])
                          for k in SERVICES if any(k in x[2] for x in warm[(how, key)])}
                if checks:
                    t.row("… of which the reuse check of each kept service, as the harness reports it "
                          "(to 10 ms; they run concurrently)",
                          ", ".join(f"{k} {fmt_ms(v)}" for k, v in checks.items()), "—", "—", "—", "—")
    t.note("Time to ready is `services[].startup_ms` of `cargo tiered --json`: from asking Docker for "
           "the container to a real round trip (PostgreSQL: and the template database built).")
    t.note("Warm: `cargo tiered services up` first; the first test body writes its start time "
           "(SystemTime, ns) to a file; the launch time is taken just before the spawn.")
    if not images.get("neo4j", "neo4j").split("/")[-1].startswith("neo4j"):
        t.note(f"neo4j is `{images.get('neo4j')}`, a Bolt stand-in the neo4rs client cannot query, "
               "so its test declares `needs = [\"neo4j\"]` instead of taking `tiered::Neo4j`. Readiness and "
               "the reuse check no longer wait for a `dbms.components()` answer from a server that speaks no "
               "Bolt 4; the rows without neo4j are kept for comparison with earlier runs.")
    tables.append(t)


# --------------------------------------------------------------------------
# Item 4: per-test isolation
# --------------------------------------------------------------------------


def bench_isolation(cfg, images, tables, raw):
    sizes, rounds = cfg.iso_sizes, cfg.rounds
    crates = gen_isolation(images, sizes)
    say("isolation: building the tiered and #[sqlx::test] crates")
    exes = {k: build_tests(c) for k, c in crates.items()}
    tc = crates["tiered"]
    state = STATE / "isolation"
    env = base_env(CARGO_TARGET_DIR=GEN_TARGET, TIERED_STATE_DIR=state)
    manifest_args = ["--manifest-path", tc / "Cargo.toml"]
    work = BENCH / "isolation"
    walls = {(k, n): [] for k in crates for n in sizes}
    server = {"create": [], "drop": []}
    setup = {}
    durations = {}
    try:
        say("isolation: cargo tiered services up --service postgres")
        run(cargo_tiered_cmd("services", "up", "--no-progress", "--service", "postgres", *manifest_args),
            what="cargo tiered services up", env=env)
        out, _ = run(cargo_tiered_cmd("services", "env", *manifest_args),
                     what="cargo tiered services env", env=env)
        kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        url = kv.get("TIERED_POSTGRES_URL")
        if not url:
            raise BenchError(f"cargo tiered services env gave no TIERED_POSTGRES_URL: {sorted(kv)}")
        phase = {n: [] for n in sizes}

        def run_one(key, n):
            stdout = work / f"out-{key}-{n}.txt"
            if key == "tiered":
                # As a user runs it: `cargo tiered`, two slots, kept services.
                report = work / f"report-{n}.json"
                s = timed(cargo_tiered_cmd(*manifest_args, "--no-progress", "--test", f"n{n}",
                                           "--json", report, "-j", "2"),
                          what=f"cargo tiered, {n} tests", cwd=REPO, env=env, stdout_path=stdout)
                rep = json.loads(report.read_text())
                if rep["totals"]["passed"] != n:
                    raise BenchError(f"cargo tiered, {n} tests: {rep['totals']['passed']} passed\n{tail(s.stderr)}")
                durations.setdefault(n, []).extend(t["duration_ms"] for t in rep["tests"])
                setup.setdefault(n, []).extend(t["setup_ms"] for t in rep["tests"] if t.get("setup_ms") is not None)
                phase[n].append(rep["timings"]["tests_ms"] / 1000.0)
                return s
            s = timed([exes["sqlx"][f"n{n}"], "--test-threads", "2"], what=f"sqlx::test, {n} tests",
                      cwd=crates["sqlx"], env=base_env(DATABASE_URL=url), stdout_path=stdout)
            got = passed_count(s.stdout())
            if got != n:
                raise BenchError(f"{key}, {n} tests: {got} passed\n{tail(s.stdout())}")
            return s

        # The server's own cost of a clone and a drop, one at a time, timed by
        # psql inside the container (no client, no authentication).
        kept = json.loads((state / "services.json").read_text())
        container = next(x["container"] for x in kept["services"] if x["kind"] == "postgres")
        k = 5 if cfg.quick else 20
        script = "\\timing on\n" + "".join(
            f"CREATE DATABASE bench_clone_{i} TEMPLATE tiered_template;\nDROP DATABASE bench_clone_{i};\n"
            for i in range(k))
        out, _ = run(["docker", "exec", "-i", "-u", "postgres", container, "psql", "-X", "-q", "-U", "tiered",
                      "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                     what="timing CREATE/DROP DATABASE with psql", input=script.encode())
        ms = [float(x) for x in re.findall(r"^Time: ([\d.]+) ms", out, re.M)]
        if len(ms) != 2 * k:
            raise BenchError(f"psql timed {len(ms)} statements, expected {2 * k}:\n{tail(out)}")
        server = {"create": ms[0::2], "drop": ms[1::2]}
        raw["isolation_server_ms"] = server

        for key in crates:  # warm-up
            for n in sizes:
                run_one(key, n)
        setup.clear()
        durations.clear()
        for v in phase.values():
            v.clear()
        for r in range(rounds):
            for n in sizes:
                say(f"isolation: {n} tests, round {r + 1}/{rounds}")
                order = ["tiered", "sqlx"] if r % 2 == 0 else ["sqlx", "tiered"]
                for key in order:
                    walls[(key, n)].append(run_one(key, n).wall)
    finally:
        say("isolation: cargo tiered services down")
        run(cargo_tiered_cmd("services", "down", *manifest_args),
            what="cargo tiered services down", env=env)
    raw["isolation_wall_s"] = {f"{k}-{n}": v for (k, n), v in walls.items()}
    raw["isolation_setup_ms"] = setup
    raw["isolation_duration_ms"] = durations
    raw["isolation_tests_phase_s"] = phase

    t = Table(f"4. Per-test isolation: PostgreSQL, {MIGRATIONS} migrations, --test-threads 2, "
              f"services up (median of {rounds})")
    for n in sizes:
        sq = median(walls[("sqlx", n)])
        ti = median(walls[("tiered", n)])
        r = ratio(sq, ti)
        ph = median(phase[n])
        rp = ratio(sq, ph)
        t.row(f"{n} tests: suite wall time, #[sqlx::test] binary vs cargo tiered's tests phase",
              fmt_s(sq), fmt_s(ph), fmt_ratio(rp), "≥ 10×", met(rp >= 10))
        t.row(f"{n} tests: #[sqlx::test] binary vs cargo tiered end to end (metadata, build check, "
              "listing, kept-service check included)", fmt_s(sq), fmt_s(ti), fmt_ratio(r), "—", "—")
        t.row(f"{n} tests: ms per test, #[sqlx::test] vs cargo tiered's tests phase",
              fmt_ms(sq * 1000 / n), fmt_ms(ph * 1000 / n), fmt_ratio(rp), "—", "—")
        t.row(f"{n} tests: median test duration (tiered, as its report has it)",
              fmt_ms(median(durations.get(n, []))), "—", "—", "—", "—")
        if setup.get(n):
            s = median(setup[n])
            t.row(f"{n} tests: median wait for the database (tiered, setup_ms)", fmt_ms(s), "—", "—",
                  "≤ 5 ms", met(s <= 5))
        else:
            t.row(f"{n} tests: median wait for the database (tiered)",
                  "n/a (needs tests[].setup_ms)", "—", "—", "≤ 5 ms", "n/a")
    t.row(f"the server alone: CREATE DATABASE … TEMPLATE tiered_template (median of {len(server['create'])}, "
          "one at a time, psql in the container)", fmt_ms(median(server["create"])), "—", "—", "—", "—")
    t.row(f"the server alone: DROP DATABASE (median of {len(server['drop'])})", fmt_ms(median(server["drop"])),
          "—", "—", "—", "—")
    t.note("Both suites run against the same kept PostgreSQL server (`cargo tiered services up "
           "--service postgres`), so startup is excluded: the #[sqlx::test] binary directly, tiered "
           "through `cargo tiered -j 2` (workers that prepare each next test's database while the "
           "current one runs); its tests phase is `timings.tests_ms` of its report.")
    t.note("tiered clones each test's database from a template migrated once; `#[sqlx::test]` creates "
           "a database and applies the migrations in every test.")
    tables.append(t)


# --------------------------------------------------------------------------
# Item 6: one queue over several binaries
# --------------------------------------------------------------------------

LONG_S = 4
SHORT_MS = 100


def gen_schedule():
    """One 4 s test in a binary of its own, twelve 100 ms tests spread over
    three other binaries."""
    c = BENCH / "schedule"
    tests = [("long", "tests/long.rs", False)] + [
        (f"short_{x}", f"tests/short_{x}.rs", False) for x in "abc"]
    write_if_changed(c / "Cargo.toml", manifest("bench-schedule", [tiered_dep(False)], tests))
    write_if_changed(c / "tests/long.rs",
                     "//! Generated: the long test.\n"
                     "#[tiered::test(tier = 2)]\nfn four_seconds() {\n"
                     f"    std::thread::sleep(std::time::Duration::from_secs({LONG_S}));\n"
                     "}\n\ntiered::main!();\n")
    for x in "abc":
        fns = "".join(
            f"\n#[tiered::test(tier = 1)]\nfn short_{i}() {{\n"
            f"    std::thread::sleep(std::time::Duration::from_millis({SHORT_MS}));\n}}\n"
            for i in range(4))
        write_if_changed(c / f"tests/short_{x}.rs", "//! Generated: four short tests.\n" + fns
                         + "\ntiered::main!();\n")
    seed_lockfile(c)
    return c


def bench_schedule(cfg, tables, raw):
    rounds = cfg.rounds
    c = gen_schedule()
    say("schedule: building the four binaries")
    build_tests(c)
    env = base_env(CARGO_TARGET_DIR=GEN_TARGET)
    report = BENCH / "schedule" / "report.json"
    cmd = cargo_tiered_cmd("--manifest-path", c / "Cargo.toml", "--no-progress", "--json", report,
                           "--test-threads", "4")
    run(cmd, what="cargo tiered (warm-up: durations recorded)", env=env)
    walls, phases, fixed = [], [], []
    for r in range(rounds):
        say(f"schedule: round {r + 1}/{rounds}")
        s = timed(cmd, what="cargo tiered, 4 binaries", cwd=REPO, env=env)
        rep = json.loads(report.read_text())
        if rep["totals"]["passed"] != 13:
            raise BenchError(f"cargo tiered passed {rep['totals']['passed']} of 13 tests\n{tail(s.stderr)}")
        walls.append(s.wall)
        phases.append(rep["timings"]["tests_ms"] / 1000.0)
        fixed.append(s.wall - rep["timings"]["tests_ms"] / 1000.0)
    raw["schedule"] = {"wall_s": walls, "tests_phase_s": phases, "fixed_s": fixed}
    wall, phase, fx = median(walls), median(phases), median(fixed)
    t = Table(f"6. One queue over four binaries: one {LONG_S} s test, 12 × {SHORT_MS} ms tests in 3 other "
              f"binaries, --test-threads 4 (median of {rounds})")
    r = ratio(phase, LONG_S)
    t.row(f"tests phase vs the longest test ({LONG_S} s)", fmt_s(phase), fmt_s(LONG_S), fmt_ratio(r),
          "≤ 1.2×", met(r <= 1.2))
    t.row(f"whole run vs the longest test + the fixed start-up cost ({fmt_s(fx)}: metadata, build check, "
          "listing, reports)", fmt_s(wall), fmt_s(LONG_S + fx), fmt_ratio(ratio(wall, LONG_S + fx)),
          "≤ 1.2×", met(ratio(wall, LONG_S + fx) <= 1.2))
    seq = LONG_S + 3 * (4 * SHORT_MS / 1000.0)
    t.row("…the same tests one binary after another, each alone on the slots (a lower bound of that model)",
          fmt_s(seq), fmt_s(phase), fmt_ratio(ratio(seq, phase)), "—", "—")
    t.note("The fixed cost is the run's wall time minus its tests phase (`timings.tests_ms`); the 4 s "
           "test starts first because the warm-up run recorded the durations.")
    tables.append(t)


# --------------------------------------------------------------------------
# Item 5: compile cost
# --------------------------------------------------------------------------


def bench_compile(cfg, tables, raw):
    crates = gen_compile()
    rounds = cfg.compile_rounds
    for key, c in crates.items():
        # Resolve and download first: the timed build only compiles.
        run(["cargo", "fetch", "--manifest-path", c / "Cargo.toml"], what=f"cargo fetch ({key})")
    times = {k: [] for k in crates}
    compiled = {}
    try:
        for r in range(rounds):
            order = ["lean", "full"] if r % 2 == 0 else ["full", "lean"]
            for key in order:
                tdir = BENCH / f"compile-target-{key}"
                shutil.rmtree(tdir, ignore_errors=True)
                say(f"compile: cold build, {key}, round {r + 1}/{rounds}")
                out_file = BENCH / "compile" / f"build-{key}.jsonl"
                s = timed(["cargo", "build", "--tests", "--message-format=json", "--manifest-path",
                           crates[key] / "Cargo.toml"], what=f"cold build ({key})", cwd=REPO,
                          env=base_env(CARGO_TARGET_DIR=tdir), stdout_path=out_file, timeout=3600)
                names = set()
                for line in s.stdout().splitlines():
                    try:
                        m = json.loads(line)
                    except ValueError:
                        continue
                    if m.get("reason") in ("compiler-artifact", "build-script-executed"):
                        names.add(package_name(m["package_id"]))
                compiled[key] = names
                times[key].append(s.wall)
                shutil.rmtree(tdir, ignore_errors=True)
    finally:
        for key in crates:
            shutil.rmtree(BENCH / f"compile-target-{key}", ignore_errors=True)
    raw["compile_s"] = times
    raw["compile_crates"] = {k: sorted(v) for k, v in compiled.items()}

    def found(key):
        return [c for c in SERVICE_CRATES if c in compiled[key]]

    lean, full = median(times["lean"]), median(times["full"])
    t = Table(f"5. Compile cost: cold `cargo build --tests` of a tier-1-only crate "
              f"({rounds} round(s))")
    t.row("all features (default) vs default-features = false", fmt_s(full), fmt_s(lean),
          fmt_ratio(ratio(full, lean)), "—", "—")
    fl = found("lean")
    t.row("of sqlx, neo4rs, redis, reqwest, testcontainers: compiled with default-features = false",
          ", ".join(fl) or "none", "—", "—", "none", met(not fl))
    t.row("… compiled with all features", ", ".join(found("full")) or "none", "—", "—", "—", "—")
    t.row("crates compiled: all features vs default-features = false", len(compiled["full"]),
          len(compiled["lean"]), fmt_ratio(ratio(len(compiled["full"]), len(compiled["lean"]))), "—", "—")
    t.note("Each build starts from an empty target directory (deleted afterwards), with the "
           "dependencies already downloaded; the compiled crates are read from cargo's JSON messages.")
    tables.append(t)


# --------------------------------------------------------------------------
# Setup checks, machine facts, main
# --------------------------------------------------------------------------


def check_docker(images):
    try:
        run(["docker", "info"], what="docker info", timeout=30)
    except BenchError as e:
        raise BenchError(f"Docker does not answer (needed by `start` and `isolation`); start it "
                         f"(the README's set-up, scripts/test, does) or leave those out with --only.\n{e}")
    missing = []
    for s, img in images.items():
        p = subprocess.run(["docker", "image", "inspect", img], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if p.returncode != 0:
            missing.append(img)
    if missing:
        say(f"local images missing ({', '.join(missing)}): running fixtures/images/build")
        run([REPO / "fixtures/images/build"], what="fixtures/images/build", timeout=7200)


def check_nextest():
    p = subprocess.run(["cargo", "nextest", "--version"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if p.returncode != 0:
        say("installing cargo-nextest (cargo install cargo-nextest --locked)")
        run(["cargo", "install", "cargo-nextest", "--locked"], what="installing cargo-nextest",
            timeout=7200)


def machine_facts(cfg):
    def cmd(*c):
        try:
            return subprocess.run(c, capture_output=True, text=True, timeout=30).stdout.strip()
        except Exception:
            return "n/a"

    cpu = "n/a"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "n/a"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("mode", cfg.mode_text),
        ("CPU", cpu),
        ("cores", str(os.cpu_count())),
        ("RAM", mem),
        ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("rustc", cmd("rustc", "-V")),
        ("Docker", cmd("docker", "version", "--format", "{{.Server.Version}}") or "n/a"),
        ("commit", cmd("git", "-C", str(REPO), "rev-parse", "--short", "HEAD")),
    ]


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="benches/run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes (500 trivial tests, isolation at 20 and 50 tests), 1 round")
    ap.add_argument("--only", default=",".join(ITEMS),
                    help=f"comma-separated items to run: {','.join(ITEMS)} (default: all)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="rounds per comparison (default 5; --quick: 1)")
    ap.add_argument("--tests", type=int, default=None,
                    help="trivial tests in items 1-2 (default 10000; --quick: 500)")
    ap.add_argument("--debug-tool", action="store_true",
                    help="time a debug build of cargo-tiered (quicker to build, slower to run) "
                         "instead of the release build `cargo install` makes")
    a = ap.parse_args(argv)
    only = [x.strip() for x in a.only.split(",") if x.strip()]
    bad = [x for x in only if x not in ITEMS]
    if bad:
        ap.error(f"unknown item(s) {', '.join(bad)}; the items are {', '.join(ITEMS)}")
    a.only = only
    if a.rounds is not None and a.rounds < 1:
        ap.error("--rounds must be at least 1")
    a.rounds = a.rounds or (1 if a.quick else 5)
    a.tests = a.tests or (500 if a.quick else 10_000)
    # The fast binaries of items 1-2 get more samples than the slow items.
    a.fast_rounds = a.rounds * (3 if a.quick else 2)
    a.nextest_rounds = a.rounds if a.quick else 1
    a.compile_rounds = 1 if a.quick else min(a.rounds, 2)
    a.iso_sizes = [20, 50] if a.quick else [50, 200]
    a.mode_text = (f"{'quick' if a.quick else 'full'}: {a.tests} trivial tests, isolation at "
                   f"{' and '.join(map(str, a.iso_sizes))} tests, {a.rounds} round(s) "
                   f"({a.fast_rounds} for the harness binaries, {a.nextest_rounds} for nextest, "
                   f"{a.compile_rounds} for cold builds); cargo-tiered "
                   f"{'debug build' if a.debug_tool else 'release build'}")
    return a


def main(argv):
    global CARGO_TIERED
    cfg = parse_args(argv)
    CARGO_TIERED = TOOL_TARGET / ("debug" if cfg.debug_tool else "release") / "cargo-tiered"
    BENCH.mkdir(parents=True, exist_ok=True)
    LOG.write_text(f"benches/run {' '.join(argv)}\n")
    started = time.monotonic()
    images = local_images()
    facts = machine_facts(cfg)
    say(f"{cfg.mode_text}; items: {', '.join(cfg.only)}; log: {LOG}")
    ensure_spawn()
    if "overhead" in cfg.only:
        check_nextest()
    if "start" in cfg.only or "isolation" in cfg.only:
        check_docker(images)
    if any(x in cfg.only for x in ("overhead", "start", "isolation", "schedule")):
        ensure_cargo_tiered(cfg.debug_tool)
    tables, raw = [], {"mode": cfg.mode_text, "facts": dict(facts)}
    if "overhead" in cfg.only or "memory" in cfg.only:
        bench_overhead(cfg, "overhead" in cfg.only, "memory" in cfg.only, tables, raw)
    if "start" in cfg.only:
        bench_start(cfg, images, tables, raw)
    if "isolation" in cfg.only:
        bench_isolation(cfg, images, tables, raw)
    if "schedule" in cfg.only:
        bench_schedule(cfg, tables, raw)
    if "compile" in cfg.only:
        bench_compile(cfg, tables, raw)
    elapsed = time.monotonic() - started
    facts.append(("load average at the end", " ".join(f"{x:.2f}" for x in os.getloadavg())))
    facts.append(("suite run time", f"{elapsed / 60:.1f} min"))
    md = ["## Results", ""]
    md += ["| machine | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in facts] + [""]
    md += [t.markdown() for t in tables]
    text = "\n".join(md)
    (BENCH / "results.md").write_text(text)
    raw["facts"] = dict(facts)
    (BENCH / "results.json").write_text(json.dumps(raw, indent=1, default=str))
    print(text)
    say(f"done in {elapsed / 60:.1f} min; written to {BENCH / 'results.md'}")
    return 0


def _terminated(signum, _frame):
    # SIGTERM (a CI job cancelled, `timeout`) unwinds like Ctrl-C, so the
    # `finally` blocks run: kept services are removed with `services down`.
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        print(f"benches/run: error: {e}", file=sys.stderr)
        print(f"benches/run: the commands and their output are in {LOG}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("benches/run: interrupted", file=sys.stderr)
        sys.exit(130)
