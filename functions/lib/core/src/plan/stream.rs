//! Summarize while the plan downloads: the parser reads on a blocking thread
//! from a small channel the download fills, so memory stays bounded whatever
//! the plan's size.

use std::collections::VecDeque;
use std::io::Read;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{Options, PlanError, ProviderSchema, Summary};
use crate::config::IgnoreRules;
use crate::error::{Error, Result};
use crate::ports::{ByteStream, PlanJsonStream};

/// Chunks in flight between the download and the parser.
const CHANNEL_CHUNKS: usize = 16;

/// Owned [`Options`] for the parser's thread.
#[derive(Debug, Clone, Default)]
pub struct StreamOptions {
    pub rules: IgnoreRules,
    pub schema: Option<std::sync::Arc<ProviderSchema>>,
    pub allow_incomplete: bool,
}

/// Summarizes a streamed plan. The outer error is the download's (transport,
/// size cap); the inner one says why the plan cannot be judged.
pub async fn summarize_stream(
    mut stream: PlanJsonStream,
    options: StreamOptions,
) -> Result<std::result::Result<Summary, PlanError>> {
    let (sender, receiver) = mpsc::channel::<Vec<u8>>(CHANNEL_CHUNKS);
    let parser = tokio::task::spawn_blocking(move || {
        let reader = ChannelReader {
            receiver,
            chunk: Vec::new(),
            position: 0,
        };
        super::summarize(
            reader,
            &Options {
                rules: Some(&options.rules),
                schema: options.schema.as_deref(),
                allow_incomplete: options.allow_incomplete,
            },
        )
    });
    let pumped = async {
        while let Some(chunk) = stream.next_chunk().await? {
            // The parser stopped early (it found the document unreadable): its error says why.
            if sender.send(chunk).await.is_err() {
                break;
            }
        }
        Ok::<(), Error>(())
    }
    .await;
    drop(sender);
    let parsed = parser
        .await
        .map_err(|e| Error::TfcProtocol(format!("the plan parser stopped: {e}")))?;
    // A failed download ends the parser's input early; the download's error is the real cause.
    pumped?;
    Ok(parsed)
}

/// `Read` over the chunks of a channel (blocking: parser thread only).
struct ChannelReader {
    receiver: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    position: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.position == self.chunk.len() {
            match self.receiver.blocking_recv() {
                Some(chunk) => {
                    self.chunk = chunk;
                    self.position = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.position);
        buf[..n].copy_from_slice(&self.chunk[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

/// A stream over bytes already in memory, in chunks of `chunk_size`.
pub fn memory_stream(bytes: Vec<u8>, chunk_size: usize) -> PlanJsonStream {
    let chunks = bytes
        .chunks(chunk_size.max(1))
        .map(<[u8]>::to_vec)
        .collect();
    Box::new(MemoryStream { chunks })
}

struct MemoryStream {
    chunks: VecDeque<Vec<u8>>,
}

#[async_trait]
impl ByteStream for MemoryStream {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(self.chunks.pop_front())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing {
        sent: bool,
    }

    #[async_trait]
    impl ByteStream for Failing {
        async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
            if self.sent {
                return Err(Error::TfcUnavailable("connection reset".into()));
            }
            self.sent = true;
            Ok(Some(
                br#"{"format_version":"1.2","resource_changes":["#.to_vec(),
            ))
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn summarizes_in_small_chunks() {
        let plan =
            br#"{"format_version":"1.2","planned_values":{},"resource_changes":[]}"#.to_vec();
        let summary = summarize_stream(memory_stream(plan, 3), StreamOptions::default())
            .await
            .unwrap()
            .unwrap();
        assert!(summary.analysis.drifted.is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_download_is_the_error_not_the_truncated_json() {
        let err = summarize_stream(Box::new(Failing { sent: false }), StreamOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TfcUnavailable(_)), "{err:?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_unreadable_plan_stops_the_download() {
        let mut text = b"[".to_vec();
        text.extend(std::iter::repeat_n(b'1', 1 << 20));
        let result = summarize_stream(memory_stream(text, 1024), StreamOptions::default())
            .await
            .unwrap();
        assert!(result.is_err());
    }
}
