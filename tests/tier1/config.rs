use std::path::Path;

use tiered::config::Config;

fn error(text: &str) -> String {
    Config::parse(text, Path::new("ws/tiered.toml"))
        .unwrap_err()
        .to_string()
}

#[tiered::test(tier = 1)]
fn error_messages_name_file_line_and_key() {
    let cases = [
        "[gates.release]\nmin_succes_rate = 70\n",
        "[gates.release]\nmin_success_rate = \"high\"\n",
        "[gates.release]\nmin_success_rate = 170\n",
        "[gates.release]\nmin_success_rate = -1\n",
        "[gates.release\n",
        "[gate.release]\nmin_success_rate = 70\n",
        "[gates.empty]\ndescription = \"nothing\"\n",
        "[gates.t]\nmax_failed = 0\ntiers = [1, 4]\n",
        "[services.postgres]\nimag = \"postgres:15.10\"\n",
        "[sla]\nsearch = { p59 = \"1s\" }\n",
        "[Mocking]\ncrates = []\n",
        "[timeouts]\ntier2 = \"5 parsecs\"\n",
        "[timeouts]\ntier4 = \"1m\"\n",
        "retries = -1\n",
    ];
    let mut out = String::new();
    for text in cases {
        out.push_str(&format!(
            "--- input:\n{text}--- error:\n{}\n\n",
            error(text)
        ));
    }
    crate::golden::check("config-errors.txt", &out);
}

#[tiered::test(tier = 1)]
fn unknown_key_points_at_its_line() {
    let msg = error("# comment\n[gates.release]\nmin_success_rate = 70\nbogus = 1\n");
    assert!(
        msg.starts_with("ws/tiered.toml:4:1: unknown field `bogus`"),
        "{msg}"
    );
    assert!(msg.contains("key `gates.release"), "{msg}");
}

#[tiered::test(tier = 1)]
fn an_unknown_key_close_to_a_known_one_is_suggested() {
    for (text, meant) in [
        (
            "[gates.release]\nmin_succes_rate = 70\n",
            "min_success_rate",
        ),
        (
            "[gates.release]\nmin_sucess_rate = 70\n",
            "min_success_rate",
        ),
        ("[gates.release]\nsucces_rate = 70\n", "min_success_rate"),
        ("[gates.release]\nMax_Failed = 0\n", "max_failed"),
        ("[gates.x]\nmax_failed = 0\ntier = [1]\n", "tiers"),
        ("[gate.release]\nmax_failed = 0\n", "gates"),
        ("[services.redis]\nimgae = \"redis:7.4.1\"\n", "image"),
        ("[services.postgres]\nsql_fixture = []\n", "sql_fixtures"),
        ("[mocking]\nallowed = {}\n", "allow"),
        ("[sla]\nq = { p59 = \"1s\" }\n", "p95"),
        ("[sla]\nq = { max_err_rate = 0.1 }\n", "max_error_rate"),
    ] {
        let msg = error(text);
        assert!(
            msg.ends_with(&format!("; did you mean `{meant}`?")),
            "{text:?}: {msg}"
        );
    }
}

#[tiered::test(tier = 1)]
fn an_unknown_key_far_from_every_known_one_gets_no_suggestion() {
    for text in [
        "[gates.release]\nbogus = 1\n",
        "[gates.release]\nmax = 1\n",
        "[servers]\n",
        "[sla]\nq = { p50 = \"1s\" }\n",
        "[services.redis]\nport = 6379\n",
    ] {
        let msg = error(text);
        assert!(msg.contains("unknown"), "{text:?}: {msg}");
        assert!(!msg.contains("did you mean"), "{text:?}: {msg}");
    }
}

#[tiered::test(tier = 1)]
fn integers_and_floats_are_both_rates() {
    let c = Config::parse(
        "[gates.a]\nmin_discovery_rate = 90\nmin_success_rate = 72.5\n",
        Path::new("t"),
    )
    .unwrap();
    assert_eq!(c.gates["a"].min_discovery_rate, Some(90.0));
    assert_eq!(c.gates["a"].min_success_rate, Some(72.5));
}

#[tiered::test(tier = 1)]
fn an_empty_file_is_the_defaults() {
    let c = Config::parse("", Path::new("t")).unwrap();
    assert!(c.gates.is_empty());
}

#[tiered::test(tier = 1)]
fn both_locations_at_once_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiered.toml"), "").unwrap();
    std::fs::create_dir(dir.path().join(".config")).unwrap();
    std::fs::write(dir.path().join(".config/tiered.toml"), "").unwrap();
    let err = Config::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("keep one"), "{err}");
}

#[tiered::test(tier = 1)]
fn the_nested_location_is_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".config")).unwrap();
    std::fs::write(
        dir.path().join(".config/tiered.toml"),
        "[gates.x]\nmax_failed = 2\n",
    )
    .unwrap();
    let c = Config::load(dir.path()).unwrap();
    assert_eq!(c.gates["x"].max_failed, Some(2));
}

#[tiered::test(tier = 1)]
fn the_reference_file_is_valid_configuration() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tiered.reference.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    Config::parse(&text, &path).unwrap();
}
