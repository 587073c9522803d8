//! A file of the archive held in memory or mapped (an object fetched whole, a released
//! segment's cached copy), handed to the engine as a read-only `StorageFile`.

use std::io;
use std::path::{Path, PathBuf};

use auditlog_engine::storage::{MappedBytes, StorageFile};

/// Bytes read as the file at `path`; every write is refused, naming it.
#[derive(Debug)]
pub(crate) struct ReadOnlyFile {
    pub(crate) path: PathBuf,
    pub(crate) bytes: MappedBytes,
}

impl StorageFile for ReadOnlyFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.bytes.as_slice().len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let bytes = self.bytes.as_slice();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let Some(read) = start
            .checked_add(buf.len())
            .and_then(|end| bytes.get(start..end))
        else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} ends before byte {}",
                    self.path.display(),
                    offset + buf.len() as u64
                ),
            ));
        };
        buf.copy_from_slice(read);
        Ok(())
    }

    fn write_all_at(&self, _buf: &[u8], _offset: u64) -> io::Result<()> {
        Err(read_only(&self.path))
    }

    fn sync_data(&self) -> io::Result<()> {
        Err(read_only(&self.path))
    }

    fn set_len(&self, _len: u64) -> io::Result<()> {
        Err(read_only(&self.path))
    }
}

/// The refusal of a write to `path`, which is the archive's.
pub(crate) fn read_only(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{} is an archive, read-only here", path.display()),
    )
}
