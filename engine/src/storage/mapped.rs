//! Read-only bytes of an immutable file: a memory map of a sealed segment, or a buffer.
//! The map constructor is crate-private, so only files the engine has sealed (fsynced,
//! never written again) are mapped.

use std::fs::File;
use std::io;
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

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match &*self.0 {
            Inner::Map(map) => map,
            Inner::Buf(buf) => buf,
        }
    }
}
