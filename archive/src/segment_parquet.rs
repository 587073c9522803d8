//! Each archived segment's events as Parquet (docs/FORMAT.md, "Parquet in the archive"):
//! written to a temporary file, then uploaded and checked like the segment. The file is
//! named for the process writing it, so a run that dies mid-file (kill -9, a server
//! stopped during a long run) leaves a file the next run of any process removes.

use auditlog_engine::query::{Filter, Order, PersonalFields, Query};
use auditlog_engine::{Log, SealedSegmentInfo};
use auditlog_parquet::{ExportError, export_parquet};

use crate::error::{ArchiveError, Result};
use crate::location::Archive;
use crate::manifest::{ObjectRef, SEGMENTS_DIR, base_name};
use crate::transfer::copy_checked;

/// The start of a temporary file's name, then `<pid>-`.
const TEMP_PREFIX: &str = "auditlog-archive-";

/// Writes the events of `segment` as Parquet to a temporary file, personal fields sealed
/// whatever keys the log holds (an archive outlives erasures: a subject's key erased
/// later must still leave nothing readable there), then copies it beside the segment.
pub(crate) async fn copy(
    log: &Log,
    archive: &Archive,
    segment: &SealedSegmentInfo,
    read_back: &mut u64,
) -> Result<ObjectRef> {
    let records = segment.base_seq..segment.tree_size;
    let failed = |why: String| ArchiveError::Parquet {
        records: records.clone(),
        why,
    };
    let dir = std::env::temp_dir();
    let file = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .suffix(".parquet")
        .tempfile_in(&dir)
        .map_err(|e| failed(format!("a temporary file in {}: {e}", dir.display())))?;
    let query = Query {
        filter: Filter {
            seqs: Some(records.clone()),
            ..Filter::default()
        },
        order: Order::OldestFirst,
        limit: None,
        cursor: None,
    };
    let out = std::io::BufWriter::with_capacity(1 << 20, file.as_file());
    let rows = export_parquet(log, &query, PersonalFields::Sealed, out).map_err(|e| match e {
        ExportError::Log(e) => ArchiveError::from(e),
        ExportError::Parquet(e) => failed(e.to_string()),
    })?;
    if rows != records.end - records.start {
        let holds = records.end - records.start;
        return Err(failed(format!(
            "{rows} rows, where the segment holds {holds}"
        )));
    }
    let relative = format!("{SEGMENTS_DIR}/{}.parquet", base_name(segment.base_seq));
    copy_checked(archive, &relative, file.path(), read_back).await
}

/// Removes the temporary Parquet files of processes that are gone.
pub(crate) fn remove_orphans() {
    let Ok(listed) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in listed.flatten() {
        let name = entry.file_name();
        if of_a_dead_process(&name.to_string_lossy()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether `name` is a temporary Parquet file of a process that is gone.
fn of_a_dead_process(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
        return false;
    };
    let Some((pid, _)) = rest.split_once('-') else {
        return false;
    };
    name.ends_with(".parquet") && crate::tier::process_is_gone(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_files_of_dead_processes_are_orphans() {
        let ours = format!("{TEMP_PREFIX}{}-x1.parquet", std::process::id());
        assert!(!of_a_dead_process(&ours));
        // Above the kernel's pid_max: no such process.
        assert!(of_a_dead_process(&format!(
            "{TEMP_PREFIX}99999999-x1.parquet"
        )));
        for other in [
            "auditlog-archive-99999999-x1.seg",
            "auditlog-archive-x-1.parquet",
            "other-99999999-x1.parquet",
        ] {
            assert!(!of_a_dead_process(other), "{other}");
        }
    }
}
