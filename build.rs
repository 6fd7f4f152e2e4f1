// `sqlx::migrate!` compiles `migrations/` into the binary, but cargo does not know the macro
// reads that directory: without this, a new migration alone left an incremental build as it
// was (a benchmarked build once ran without the migration it was meant to measure).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
