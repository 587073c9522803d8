//! [`Storage`] on the real file system, with `pread`/`pwrite`, `fdatasync` and mmap.
//! Whatever it creates is its owner's alone, whatever the umask: directories 0700, files
//! 0600 (an audit log holds who did what; other local users have no business reading
//! it).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use super::{AppendMap, MappedBytes, OpenMode, Storage, StorageFile};

/// The mode of every directory the engine creates: the owner's alone.
const PRIVATE_DIR_MODE: u32 = 0o700;
/// The mode of every file the engine creates: read and written by the owner alone.
pub(crate) const PRIVATE_FILE_MODE: u32 = 0o600;

/// The operating system's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsStorage {
    /// Read sealed segments with plain reads instead of mmap (for comparison and tests).
    pub plain_reads: bool,
}

impl Storage for FsStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(PRIVATE_DIR_MODE)
            .create(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let mut options = OpenOptions::new();
        // The umask can only take bits away from these.
        options.mode(PRIVATE_FILE_MODE);
        match mode {
            OpenMode::Read => options.read(true),
            OpenMode::ReadWrite => options.read(true).write(true),
            OpenMode::CreateNew => options.read(true).write(true).create_new(true),
        };
        Ok(Arc::new(FsFile(options.open(path)?)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn map(&self, path: &Path) -> io::Result<MappedBytes> {
        let file = File::open(path)?;
        if self.plain_reads || file.metadata()?.len() == 0 {
            let len = usize::try_from(file.metadata()?.len()).map_err(io::Error::other)?;
            let mut buf = vec![0; len];
            file.read_exact_at(&mut buf, 0)?;
            return Ok(MappedBytes::from_vec(buf));
        }
        MappedBytes::map_immutable_file(&file)
    }

    fn map_appending(&self, path: &Path, len: u64) -> io::Result<Option<AppendMap>> {
        if self.plain_reads {
            return Ok(None);
        }
        AppendMap::map(&File::open(path)?, len).map(Some)
    }
}

#[derive(Debug)]
struct FsFile(File);

impl StorageFile for FsFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(&self.0, buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(&self.0, buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}
