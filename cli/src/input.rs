//! Reads one event from a file or standard input, never more than one byte past the size limit, so
//! an endless or huge input is refused instead of exhausting memory.

use std::io::Read;
use vigil_adapters::MAX_EVENT_BYTES;

pub fn read(file: Option<&str>) -> Result<Vec<u8>, String> {
    let limit = MAX_EVENT_BYTES as u64 + 1;
    let mut buf = Vec::new();
    match file {
        None | Some("-") => std::io::stdin().lock().take(limit).read_to_end(&mut buf),
        Some(path) => std::fs::File::open(path)
            .map_err(|e| format!("cannot read {path}: {e}"))?
            .take(limit)
            .read_to_end(&mut buf),
    }
    .map_err(|e| format!("cannot read input: {e}"))?;
    Ok(buf)
}
