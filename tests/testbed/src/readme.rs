//! The README's SQL examples, as the tests that run them read them: what a
//! user copies is what is tested.

use crate::lab::root_dir;

/// The README's ```sql block that contains `marker`, with the database
/// `pastmon.` renamed `db.` and its range (`interval_start >= now() - 86400`)
/// replaced by `range`.
pub fn sql(marker: &str, db: &str, range: &str) -> String {
    let readme = std::fs::read_to_string(root_dir().join("README.md")).expect("README.md");
    let sql = readme
        .split("```sql\n")
        .skip(1)
        .filter_map(|block| block.split_once("```").map(|(sql, _)| sql))
        .find(|sql| sql.contains(marker))
        .unwrap_or_else(|| panic!("no SQL example with {marker} in the README"));
    let last_day = "interval_start >= now() - 86400";
    assert!(sql.contains(last_day) && sql.contains("pastmon."), "the example changed its shape: {sql}");
    sql.replace(last_day, range).replace("pastmon.", &format!("{db}."))
}
