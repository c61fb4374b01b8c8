//! The exported SDL is committed in docs/schema.graphql; this fails when the schema drifts.
//! Regenerate with `UPDATE_SCHEMA=1 cargo test -p gateway-graphql --test schema_sdl`.

#[test]
fn committed_sdl_matches_the_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schema.graphql");
    let sdl = gateway_graphql::schema_sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &sdl).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == sdl,
        "docs/schema.graphql is out of date; run UPDATE_SCHEMA=1 cargo test -p gateway-graphql --test schema_sdl and review the diff"
    );
}
