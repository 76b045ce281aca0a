//! Golden files under `fixtures/golden/`: the strings users see are compared
//! whole, so a change of wording is a reviewed diff. `TIERED_BLESS=1`
//! rewrites them.

use std::path::PathBuf;

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden")
        .join(name)
}

/// Compares `actual` with the golden file `name`.
pub fn check(name: &str, actual: &str) {
    let p = path(name);
    if std::env::var_os("TIERED_BLESS").is_some() {
        std::fs::write(&p, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "missing golden file {} ({e}); run with TIERED_BLESS=1",
            p.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from what was produced (TIERED_BLESS=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}",
        p.display()
    );
}
