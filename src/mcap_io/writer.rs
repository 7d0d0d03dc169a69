//! A rosbag2-style MCAP writer: profile `ros2`, one `ros2msg` schema per message type with the
//! full definition text (dependencies included), `cdr` channels, zstd-compressed chunks, and a
//! summary section with schemas, channels, statistics, chunk and message indexes.
//!
//! Deterministic: the header's library string is fixed (`lookout/<version>`), nothing reads the
//! clock, and zstd runs single-threaded (its multi-threaded frames differ from single-threaded
//! ones), so the same calls give byte-identical files.
//!
//! The file is written under a temporary name beside the target and renamed into place once
//! finished ([`crate::output::PendingOutput`]): the target path never holds a file without its
//! summary, and an earlier file there stays until the new one is complete.
//!
//! If the writer is dropped without [`Ros2McapWriter::finish`] (a stage's error ending the
//! pipeline), `Drop` finishes the file and renames it into place, so everything written so far
//! stays readable and indexed; if nothing was written, or the file cannot be finished (disk
//! full), the temporary file is removed and `path` keeps what it held. An error there can only
//! be logged.

use super::McapError;
use crate::msgs::RosMessage;
use crate::output::PendingOutput;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Header library string: lookout's version, nothing machine- or time-dependent.
const LIBRARY: &str = concat!("lookout/", env!("CARGO_PKG_VERSION"));

/// What a finished file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Messages written, per topic.
    pub message_counts: BTreeMap<String, u64>,
    pub chunk_count: u32,
}

struct Topic {
    channel_id: u16,
    schema_name: String,
}

/// Writes ROS 2 messages (already CDR-encoded) to an MCAP file.
pub struct Ros2McapWriter {
    path: PathBuf,
    /// `None` once finished.
    inner: Option<mcap::Writer<BufWriter<File>>>,
    /// The temporary file `inner` writes, renamed to `path` once finished; `None` after.
    pending: Option<PendingOutput>,
    topics: BTreeMap<String, Topic>,
    message_counts: BTreeMap<String, u64>,
}

impl Ros2McapWriter {
    /// Starts writing `path` (under a temporary name; `path` is replaced when finished).
    pub fn create(path: impl AsRef<Path>) -> Result<Self, McapError> {
        let path = path.as_ref().to_path_buf();
        let (file, pending) = PendingOutput::create(&path).map_err(|source| McapError::Create {
            path: path.clone(),
            source,
        })?;
        let options = mcap::WriteOptions::new()
            .profile("ros2")
            .library(LIBRARY)
            .compression(Some(mcap::Compression::Zstd))
            .compression_threads(0)
            .use_chunks(true);
        let inner = options
            .create(BufWriter::with_capacity(1 << 20, file))
            .map_err(|source| McapError::Write {
                path: path.clone(),
                source: Box::new(source),
            })?;
        Ok(Self {
            path,
            inner: Some(inner),
            pending: Some(pending),
            topics: BTreeMap::new(),
            message_counts: BTreeMap::new(),
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Declares `topic` carrying messages of type `M` (its schema is written once per type).
    pub fn add_topic<M: RosMessage>(&mut self, topic: &str) -> Result<(), McapError> {
        self.add_topic_with_schema(topic, M::SCHEMA_NAME, &M::definition())
    }

    /// Declares `topic` with an explicit schema name (`pkg/msg/Name`) and `ros2msg` definition
    /// text. Adding the same topic again with the same schema is a no-op.
    pub fn add_topic_with_schema(
        &mut self,
        topic: &str,
        schema_name: &str,
        definition: &str,
    ) -> Result<(), McapError> {
        self.add_channel(topic, schema_name, "ros2msg", definition, "cdr")
    }

    /// Declares a topic of JSON messages described by a JSON Schema (`jsonschema` schema
    /// encoding, `json` message encoding): readable by Foxglove and any MCAP reader, for data
    /// that has no ROS message type (lookout's track state).
    pub fn add_json_topic(
        &mut self,
        topic: &str,
        schema_name: &str,
        json_schema: &str,
    ) -> Result<(), McapError> {
        self.add_channel(topic, schema_name, "jsonschema", json_schema, "json")
    }

    fn add_channel(
        &mut self,
        topic: &str,
        schema_name: &str,
        schema_encoding: &str,
        schema_data: &str,
        message_encoding: &str,
    ) -> Result<(), McapError> {
        if let Some(existing) = self.topics.get(topic) {
            if existing.schema_name == schema_name {
                return Ok(());
            }
            return Err(McapError::TopicSchemaConflict {
                path: self.path.clone(),
                topic: topic.into(),
                existing: existing.schema_name.clone(),
                requested: schema_name.into(),
            });
        }
        let path = &self.path;
        let inner = self.inner.as_mut().ok_or_else(|| finished(path))?;
        let wrap = |source| McapError::Write {
            path: path.clone(),
            source: Box::new(source),
        };
        let schema_id = inner
            .add_schema(schema_name, schema_encoding, schema_data.as_bytes())
            .map_err(wrap)?;
        let channel_id = inner
            .add_channel(schema_id, topic, message_encoding, &BTreeMap::new())
            .map_err(wrap)?;
        self.topics.insert(
            topic.into(),
            Topic {
                channel_id,
                schema_name: schema_name.into(),
            },
        );
        self.message_counts.insert(topic.into(), 0);
        Ok(())
    }

    /// Writes one CDR-encoded message (with its encapsulation header) on an added topic.
    pub fn write(
        &mut self,
        topic: &str,
        log_time_ns: u64,
        publish_time_ns: u64,
        sequence: u32,
        cdr: &[u8],
    ) -> Result<(), McapError> {
        let path = &self.path;
        let channel_id = self
            .topics
            .get(topic)
            .ok_or_else(|| McapError::UnknownTopic {
                path: path.clone(),
                topic: topic.into(),
            })?
            .channel_id;
        let inner = self.inner.as_mut().ok_or_else(|| finished(path))?;
        inner
            .write_to_known_channel(
                &mcap::records::MessageHeader {
                    channel_id,
                    sequence,
                    log_time: log_time_ns,
                    publish_time: publish_time_ns,
                },
                cdr,
            )
            .map_err(|source| McapError::Write {
                path: path.clone(),
                source: Box::new(source),
            })?;
        if let Some(count) = self.message_counts.get_mut(topic) {
            *count += 1;
        }
        Ok(())
    }

    /// Serializes `msg` and writes it, with `publish_time = log_time`.
    pub fn write_message<M: RosMessage>(
        &mut self,
        topic: &str,
        log_time_ns: u64,
        sequence: u32,
        msg: &M,
    ) -> Result<(), McapError> {
        let cdr = crate::msgs::to_cdr(msg).map_err(|source| McapError::Cdr {
            path: self.path.clone(),
            topic: topic.into(),
            index: self.message_counts.get(topic).copied().unwrap_or(0),
            source: Box::new(source),
        })?;
        self.write(topic, log_time_ns, log_time_ns, sequence, &cdr)
    }

    /// Closes the last chunk, writes the summary section and footer, flushes the file and
    /// renames it into place. On an error the temporary file is removed and `path` untouched.
    pub fn finish(mut self) -> Result<WriteSummary, McapError> {
        self.finish_in_place()
    }

    fn finish_in_place(&mut self) -> Result<WriteSummary, McapError> {
        let Some(mut inner) = self.inner.take() else {
            return Err(finished(&self.path));
        };
        // Dropped on every error below, which removes the unfinished temporary file.
        let pending = self.pending.take();
        let summary = inner.finish().map_err(|source| McapError::Write {
            path: self.path.clone(),
            source: Box::new(source),
        })?;
        let mut buffered = inner.into_inner();
        buffered.flush().map_err(|source| McapError::WriteIo {
            path: self.path.clone(),
            source,
        })?;
        drop(buffered);
        if let Some(pending) = pending {
            pending.commit().map_err(|source| McapError::WriteIo {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(WriteSummary {
            message_counts: self.message_counts.clone(),
            chunk_count: summary.chunk_indexes.len() as u32,
        })
    }
}

fn finished(path: &Path) -> McapError {
    McapError::Finished {
        path: path.to_path_buf(),
    }
}

impl Drop for Ros2McapWriter {
    fn drop(&mut self) {
        if self.message_counts.values().all(|&n| n == 0) {
            // Nothing was written (a run that failed while setting up): an empty file must not
            // replace what is at `path`. Dropping the pending output removes the temporary.
            self.inner = None;
            self.pending = None;
        }
        if self.inner.is_some() {
            match self.finish_in_place() {
                Ok(summary) => tracing::warn!(
                    path = %self.path.display(),
                    messages = summary.message_counts.values().sum::<u64>(),
                    "MCAP writer dropped without finish(); finished the file with what was written"
                ),
                Err(err) => tracing::error!("{err}; the unfinished file was removed"),
            }
        }
    }
}

impl std::fmt::Debug for Ros2McapWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ros2McapWriter")
            .field("path", &self.path)
            .field("finished", &self.inner.is_none())
            .field("message_counts", &self.message_counts)
            .finish()
    }
}
