//! Read-only bytes of files: [`MappedBytes`], a memory map of an immutable file (a sealed
//! segment) or a buffer; [`AppendMap`], a map of a file that grows by appends (the active
//! segment), read only below a length known to be written. The constructors are
//! crate-private, so only files whose life the engine controls are mapped.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::sync::Arc;

/// Shared, immutable file contents.
#[derive(Clone, Debug)]
pub struct MappedBytes(Arc<Inner>);

#[derive(Debug)]
enum Inner {
    Map(memmap2::Mmap),
    Buf(Vec<u8>),
}

impl MappedBytes {
    /// Bytes held in memory.
    pub fn from_vec(bytes: Vec<u8>) -> MappedBytes {
        MappedBytes(Arc::new(Inner::Buf(bytes)))
    }

    #[expect(
        unsafe_code,
        reason = "memmap2::Mmap::map is unsafe: the file must not change"
    )]
    pub(crate) fn map_immutable_file(file: &File) -> io::Result<MappedBytes> {
        // SAFETY: only sealed segments reach here. They were fsynced before sealing and no
        // code path writes, truncates or deletes a sealed segment while a map of it lives
        // (deletion waits for the last `Arc`). Checksums are verified before the mapped
        // bytes are trusted, so outside modification shows up as corruption, not as UB
        // in safe code that relies on contents.
        let map = unsafe { memmap2::Mmap::map(file)? };
        Ok(MappedBytes(Arc::new(Inner::Map(map))))
    }

    /// A handle that does not keep the bytes (or the map) alive.
    pub(crate) fn downgrade(&self) -> WeakBytes {
        WeakBytes(Arc::downgrade(&self.0))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match &*self.0 {
            Inner::Map(map) => map,
            Inner::Buf(buf) => buf,
        }
    }
}

/// [`MappedBytes`] that may be gone: shared while some reader holds them.
#[derive(Debug, Default)]
pub(crate) struct WeakBytes(std::sync::Weak<Inner>);

impl WeakBytes {
    /// The bytes, if a reader still holds them.
    pub(crate) fn upgrade(&self) -> Option<MappedBytes> {
        self.0.upgrade().map(MappedBytes)
    }

    /// Whether `bytes` are these very bytes (the same allocation, which this handle keeps
    /// from being reused).
    pub(crate) fn is(&self, bytes: &MappedBytes) -> bool {
        std::ptr::eq(self.0.as_ptr(), Arc::as_ptr(&bytes.0))
    }
}

/// A read-only map of a file that is appended to while mapped (the active segment), with
/// room to grow: it may run past the end of the file, whose bytes there must never be
/// touched (`SIGBUS`). It never hands out a slice of the whole map, only of ranges a
/// caller knows to be written and never changed again.
#[derive(Debug)]
pub struct AppendMap(memmap2::MmapRaw);

impl AppendMap {
    /// Maps `len` bytes of `file` from its start, whatever the file's length.
    pub(crate) fn map(file: &File, len: u64) -> io::Result<AppendMap> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        let map = memmap2::MmapOptions::new()
            .len(len)
            .map_raw_read_only(file)?;
        Ok(AppendMap(map))
    }

    /// The bytes at `range`, or `None` if the map does not reach them.
    ///
    /// # Safety
    ///
    /// `range` must lie within bytes of the file that are written and that nobody
    /// rewrites or cuts while this map lives: in the engine, committed records of the
    /// active segment below its `map_limit` (see `ActiveView::map_limit`: its own writer
    /// only appends; a writer in another process may cut records a read-only process
    /// found but that were not durable, which is why such a process reads only below
    /// the durable ones from the map). Bytes past the end of the file raise `SIGBUS`.
    #[expect(
        unsafe_code,
        reason = "reading a raw map: the caller vouches the range is written and stable"
    )]
    pub(crate) unsafe fn committed(&self, range: Range<u64>) -> Option<&[u8]> {
        let start = usize::try_from(range.start).ok()?;
        let end = usize::try_from(range.end).ok()?;
        if start > end || end > self.0.len() {
            return None;
        }
        // SAFETY: `start..end` lies inside the mapping (checked above), and within the
        // file's written bytes that no one changes while the map lives (the caller's
        // contract), so the memory is initialised, readable and immutable for the
        // slice's lifetime, which is bound to `self` (the mapping outlives it).
        Some(unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(start), end - start) })
    }
}
