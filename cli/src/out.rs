//! Standard output for the verbs' reports. A reader that stops early (`| head`, `| grep -q`)
//! closes the pipe; `println!` would then panic. Here the rest of the output is dropped
//! quietly and the command ends with the exit code its work earned.

use std::io::Write;

/// Writes one line to stdout; a closed pipe is not an error.
pub(crate) fn line(args: std::fmt::Arguments<'_>) {
    raw(format!("{args}\n").as_bytes());
}

/// Writes `bytes` to stdout as they are; a closed pipe is not an error.
pub(crate) fn raw(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("auditlog: writing to stdout: {e}");
    }
}

/// `println!` through [`line`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}
pub(crate) use say;
