//! Reads a zip file's central directory (sizes of its entries) without a zip crate.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// One entry of a zip archive.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub compressed: u64,
    pub uncompressed: u64,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    let s = b.get(at..at + 2).context("zip truncated")?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    let s = b.get(at..at + 4).context("zip truncated")?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The entries listed in the central directory.
pub fn entries(path: &Path) -> Result<Vec<Entry>> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    // End of central directory: signature 0x06054b50, at most 64 KiB + 22 bytes from the end.
    let min = bytes.len().saturating_sub(22 + 65_535);
    let eocd = (min..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .with_context(|| format!("{} is not a zip file", path.display()))?;
    let count = u16_at(&bytes, eocd + 10)? as usize;
    let mut at = u32_at(&bytes, eocd + 16)? as usize;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        if u32_at(&bytes, at)? != 0x0201_4b50 {
            bail!("{}: bad central directory header", path.display());
        }
        let compressed = u32_at(&bytes, at + 20)? as u64;
        let uncompressed = u32_at(&bytes, at + 24)? as u64;
        let name_len = u16_at(&bytes, at + 28)? as usize;
        let extra_len = u16_at(&bytes, at + 30)? as usize;
        let comment_len = u16_at(&bytes, at + 32)? as usize;
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .context("zip truncated")?;
        out.push(Entry {
            name: String::from_utf8_lossy(name).to_string(),
            compressed,
            uncompressed,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}
