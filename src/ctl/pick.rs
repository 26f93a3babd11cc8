//! Finding one recording of an instance for `export` and `play`: by its
//! file name or its session id, through the `index.jsonl` of the instance's
//! `record-dir` (the conf's, else the unit's), as `recordings` lists them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::{instance, Ctx};
use crate::session::record::INDEX;

/// One recording and its index line.
pub struct Picked {
    /// The recording file.
    pub path: PathBuf,
    /// Its index line, as written there (without the newline).
    pub line: String,
    /// That line, parsed.
    pub entry: Value,
}

/// The conf's `record-dir`, else the unit's.
pub fn record_dir(ctx: &Ctx, name: &str) -> Result<PathBuf> {
    let inst = instance::one(ctx, name)?;
    if let Some(error) = &inst.error {
        eprintln!("websockifyctl: warning: {error}; trying the default record-dir");
    }
    Ok(inst
        .options
        .record_dir
        .unwrap_or_else(|| PathBuf::from(format!("/var/lib/websockify/{name}/recordings"))))
}

/// Instance `name`'s recording `which`: a file name from its index or a
/// session id (which must name one recording).
pub fn pick(ctx: &Ctx, name: &str, which: &str) -> Result<Picked> {
    let dir = record_dir(ctx, name)?;
    let index = dir.join(INDEX);
    let text = std::fs::read_to_string(&index)
        .with_context(|| format!("cannot read {}", index.display()))?;
    let found = matching(&text, which);
    match found.as_slice() {
        [] => bail!(
            "{}: no recording {which:?} (by file name or session id)",
            index.display()
        ),
        [(line, entry)] => picked(&dir, line, entry.clone()),
        many => {
            let files: Vec<&str> = many
                .iter()
                .filter_map(|(_, v)| v["file"].as_str())
                .collect();
            bail!(
                "session {which} has several recordings ({}): give the file name",
                files.join(", ")
            )
        }
    }
}

/// The index lines naming `which` as their file, else as their session id.
fn matching<'a>(text: &'a str, which: &str) -> Vec<(&'a str, Value)> {
    let lines: Vec<(&str, Value)> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok().map(|v| (l, v)))
        .collect();
    let by_file: Vec<_> = lines
        .iter()
        .filter(|(_, v)| v["file"].as_str() == Some(which))
        .cloned()
        .collect();
    if !by_file.is_empty() {
        return by_file;
    }
    let Ok(id) = which.parse::<u64>() else {
        return Vec::new();
    };
    lines
        .into_iter()
        .filter(|(_, v)| v["session_id"].as_u64() == Some(id))
        .collect()
}

/// The file of an index line: a plain name inside `dir`, never a path that
/// leads out of it.
fn picked(dir: &Path, line: &str, entry: Value) -> Result<Picked> {
    let Some(file) = entry["file"].as_str() else {
        bail!("the index line has no file: {line}");
    };
    if file.is_empty() || file.contains('/') || file == "." || file == ".." {
        bail!(
            "the index line's file {file:?} is not a name in {}",
            dir.display()
        );
    }
    Ok(Picked {
        path: dir.join(file),
        line: line.to_owned(),
        entry,
    })
}

#[cfg(test)]
mod tests {
    use super::matching;

    const INDEX: &str = concat!(
        r#"{"file":"a.rec","session_id":1}"#,
        "\n",
        r#"{"file":"b.rec","session_id":2}"#,
        "\n",
        r#"{"file":"c.rec","session_id":2}"#,
        "\n"
    );

    #[test]
    fn by_file_name_then_by_session_id() {
        assert_eq!(matching(INDEX, "b.rec").len(), 1);
        assert_eq!(matching(INDEX, "1")[0].1["file"], "a.rec");
        assert_eq!(matching(INDEX, "2").len(), 2, "ids repeat across restarts");
        assert!(matching(INDEX, "d.rec").is_empty());
    }
}
