//! Camera topics (and other topics of one schema) from a ROS 2 MCAP file.
//!
//! Reading and decoding are separate steps so that a pipeline can run them on different
//! threads: [`McapCameraSource`] is an iterator of [`CameraMessage`]s (the CDR bytes plus topic,
//! index and times: cheap, no pixel work), and [`decode_frame`] turns one into a [`Frame`].
//! [`McapTopicSource`] streams the messages of one schema the same way (`lookout eval` reads
//! the `Detection2DArray` topics of a replay output with it).
//!
//! The reader needs the file's summary section (rosbag2 always writes one): it lists the
//! channels and schemas up front and indexes the chunks, so that messages of the selected
//! topics come out in log-time order across topics (ties in file order) while only the chunks
//! being read are held in memory. A file without chunks (rosbag2's `fastwrite` preset) has no
//! chunk index; it is read front to back and its messages come in file order. A file without a
//! summary (cut short, or its writer killed) is an error that says so.
//!
//! Nothing read from the file is trusted before it is checked (a crafted or damaged file must
//! give an error, never an abort or a multi-gigabyte allocation): the leading and trailing magic;
//! every length (summary records, chunk indexes, chunk and message records, unchunked records)
//! against the bytes the file still holds and against [`MAX_RECORD_BYTES`], before anything of
//! that size is allocated; and each chunk's `uncompressed_crc` (when the writer set it, as
//! rosbag2 and lookout do) before its messages are used.

use super::McapError;
use crate::image_codec;
use crate::msgs::{self, CompressedImage, Image, RosMessage};
use crate::types::Frame;
use mcap::sans_io::indexed_reader::{
    IndexedReadEvent, IndexedReader, IndexedReaderOptions, ReadOrder,
};
use mcap::sans_io::linear_reader::{LinearReadEvent, LinearReader, LinearReaderOptions};
use mcap::sans_io::summary_reader::{SummaryReadEvent, SummaryReader, SummaryReaderOptions};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The largest record lookout reads from an MCAP file, and the largest uncompressed chunk: 1 GiB.
/// rosbag2 writes chunks of a few MiB and puts a bigger message in a chunk of its own; one raw
/// frame at the default pixel limit ([`image_codec::DEFAULT_MAX_PIXELS`], 4 bytes per pixel for
/// `rgba8`) is 256 MiB, so a real recording stays far below this, while a length field of 2^40
/// is an error before anything is allocated. Compressed lengths are also bounded by the file
/// size.
pub const MAX_RECORD_BYTES: u64 = 1 << 30;

/// Which camera message type a topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CameraKind {
    /// `sensor_msgs/msg/Image`.
    Raw,
    /// `sensor_msgs/msg/CompressedImage`.
    Compressed,
}

impl CameraKind {
    /// The kind of a camera schema name (`None`: not a camera schema).
    pub fn from_schema_name(name: &str) -> Option<Self> {
        match name {
            _ if name == Image::SCHEMA_NAME => Some(Self::Raw),
            _ if name == CompressedImage::SCHEMA_NAME => Some(Self::Compressed),
            _ => None,
        }
    }

    /// The schema name of this kind.
    pub fn schema_name(self) -> &'static str {
        match self {
            Self::Raw => Image::SCHEMA_NAME,
            Self::Compressed => CompressedImage::SCHEMA_NAME,
        }
    }

    /// The `ros2msg` definition of this kind, for copying camera messages into another file
    /// with [`super::Ros2McapWriter::add_topic_with_schema`].
    pub fn definition(self) -> String {
        match self {
            Self::Raw => Image::definition(),
            Self::Compressed => CompressedImage::definition(),
        }
    }
}

/// A camera topic found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraTopic {
    pub topic: String,
    pub kind: CameraKind,
    /// From the summary's statistics; 0 when the file has none.
    pub message_count: u64,
}

/// One camera message, not yet decoded.
#[derive(Debug, Clone)]
pub struct CameraMessage {
    /// The file it came from (for error messages).
    pub path: Arc<Path>,
    pub topic: Arc<str>,
    pub kind: CameraKind,
    /// Position in its topic, from 0.
    pub index: u64,
    pub log_time_ns: u64,
    pub publish_time_ns: u64,
    /// The CDR bytes, encapsulation header included.
    pub data: Vec<u8>,
}

/// Decodes a camera message: the header travels to the frame as is, the pixels go through
/// [`image_codec`]. Pure; errors name the file, topic and message index.
pub fn decode_frame(msg: &CameraMessage) -> Result<Frame, McapError> {
    decode_frame_limited(msg, image_codec::DEFAULT_MAX_PIXELS)
}

/// [`decode_frame`] refusing images of more than `max_pixels` (`input.max_pixels`), checked
/// from the message's size fields or the JPEG/PNG header before the pixels are decoded.
pub fn decode_frame_limited(msg: &CameraMessage, max_pixels: u64) -> Result<Frame, McapError> {
    let cdr_error = |source| McapError::Cdr {
        path: msg.path.to_path_buf(),
        topic: msg.topic.to_string(),
        index: msg.index,
        source: Box::new(source),
    };
    let image_error = |source| McapError::Image {
        path: msg.path.to_path_buf(),
        topic: msg.topic.to_string(),
        index: msg.index,
        source: Box::new(source),
    };
    let (header, image) = match msg.kind {
        CameraKind::Raw => {
            // The size first: an oversize frame is refused before its pixels are copied.
            if let Some((width, height)) = raw_image_size(&msg.data) {
                image_codec::check_pixels(u64::from(width), u64::from(height), max_pixels)
                    .map_err(image_error)?;
            }
            let m: Image = msgs::from_cdr(&msg.data).map_err(cdr_error)?;
            let image = image_codec::decode_image(&m, max_pixels).map_err(image_error)?;
            (m.header, image)
        }
        CameraKind::Compressed => {
            let m: CompressedImage = msgs::from_cdr(&msg.data).map_err(cdr_error)?;
            let image =
                image_codec::decode_compressed_image(&m, max_pixels).map_err(image_error)?;
            (m.header, image)
        }
    };
    Ok(Frame {
        stream: msg.topic.to_string(),
        index: msg.index,
        header,
        image,
    })
}

fn open(path: &Path) -> Result<File, McapError> {
    File::open(path).map_err(|source| McapError::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// The size of the open recording, the bound every length read from it is checked against.
fn file_size(path: &Path, file: &File) -> Result<u64, McapError> {
    file.metadata()
        .map(|m| m.len())
        .map_err(|source| McapError::Open {
            path: path.to_path_buf(),
            source,
        })
}

fn read_summary(path: &Path, file: &mut File) -> Result<mcap::Summary, McapError> {
    let corrupt = |detail: String| McapError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let size = file_size(path, file)?;
    // The summary reader starts from the end; a file must also start as an MCAP file.
    let mut head = [0u8; 8];
    let starts_right = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_exact(&mut head))
        .is_ok()
        && head == mcap::MAGIC;
    if !starts_right {
        return Err(corrupt(format!(
            "not an MCAP file (no MCAP magic at the start: first bytes {:02x?})",
            &head[..(size.min(8) as usize)]
        )));
    }
    let mut reader = SummaryReader::new_with_options(
        SummaryReaderOptions::default()
            .with_file_size(size)
            .with_record_length_limit(MAX_RECORD_BYTES as usize),
    );
    let explain = |e: mcap::McapError| {
        if matches!(e, mcap::McapError::BadMagic | mcap::McapError::BadFooter) {
            corrupt(format!(
                "the file ends without its MCAP footer ({e}): it was cut short or its writer \
                 was killed before closing it; `mcap recover` can rebuild what is left"
            ))
        } else {
            corrupt(e.to_string())
        }
    };
    while let Some(event) = reader.next_event() {
        let event = match event {
            Ok(event) => event,
            Err(e) => return Err(explain(e)),
        };
        match event {
            SummaryReadEvent::ReadRequest(n) => {
                let read = file
                    .read(reader.insert(n))
                    .map_err(|e| corrupt(e.to_string()))?;
                reader.notify_read(read);
            }
            SummaryReadEvent::SeekRequest(to) => {
                let pos = file.seek(to).map_err(|e| corrupt(e.to_string()))?;
                reader.notify_seeked(pos);
            }
        }
    }
    reader.finish().ok_or_else(|| McapError::NoSummary {
        path: path.to_path_buf(),
    })
}

/// Checks one channel: a camera schema in `ros2msg`, `cdr` messages.
fn camera_kind(path: &Path, channel: &mcap::Channel) -> Result<CameraKind, McapError> {
    let Some(schema) = &channel.schema else {
        return Err(McapError::MissingSchema {
            path: path.to_path_buf(),
            topic: channel.topic.clone(),
        });
    };
    let kind = CameraKind::from_schema_name(&schema.name)
        .filter(|_| schema.encoding == "ros2msg" || schema.encoding == "ros2idl")
        .ok_or_else(|| McapError::NotACameraTopic {
            path: path.to_path_buf(),
            topic: channel.topic.clone(),
            schema: schema.name.clone(),
            schema_encoding: schema.encoding.clone(),
        })?;
    if channel.message_encoding != "cdr" {
        return Err(McapError::MessageEncoding {
            path: path.to_path_buf(),
            topic: channel.topic.clone(),
            encoding: channel.message_encoding.clone(),
        });
    }
    Ok(kind)
}

/// Topics whose channels carry camera images, sorted by name.
fn topics_of(path: &Path, summary: &mcap::Summary) -> Vec<CameraTopic> {
    let counts = summary
        .stats
        .as_ref()
        .map(|s| s.channel_message_counts.clone())
        .unwrap_or_default();
    let mut topics: BTreeMap<String, CameraTopic> = BTreeMap::new();
    for channel in summary.channels.values() {
        if let Ok(kind) = camera_kind(path, channel) {
            let entry = topics
                .entry(channel.topic.clone())
                .or_insert_with(|| CameraTopic {
                    topic: channel.topic.clone(),
                    kind,
                    message_count: 0,
                });
            entry.message_count += counts.get(&channel.id).copied().unwrap_or(0);
        }
    }
    topics.into_values().collect()
}

/// The camera topics of an MCAP file, sorted by name.
pub fn camera_topics(path: impl AsRef<Path>) -> Result<Vec<CameraTopic>, McapError> {
    let path = path.as_ref();
    let mut file = open(path)?;
    let summary = read_summary(path, &mut file)?;
    Ok(topics_of(path, &summary))
}

/// The messages of the selected camera topics of one file, in log-time order.
pub struct McapCameraSource {
    reader: ChannelReader,
    /// Selected channels by id: their camera kind.
    kinds: HashMap<u16, CameraKind>,
    topics: Vec<CameraTopic>,
}

impl McapCameraSource {
    /// Opens `path` and selects `topics` by name; an empty list selects every camera topic.
    /// A selected topic that is absent is an error listing the camera topics that exist; one
    /// that exists but is not a decodable camera topic names its schema or encoding.
    pub fn open(path: impl AsRef<Path>, topics: &[String]) -> Result<Self, McapError> {
        let path_buf: PathBuf = path.as_ref().to_path_buf();
        let path = path_buf.as_path();
        let mut file = open(path)?;
        let summary = read_summary(path, &mut file)?;
        let available = topics_of(path, &summary);
        let selected: Vec<CameraTopic> = if topics.is_empty() {
            if available.is_empty() {
                return Err(McapError::NoCameraTopics {
                    path: path.to_path_buf(),
                });
            }
            available.clone()
        } else {
            let mut selected = Vec::new();
            for topic in topics {
                if let Some(t) = available.iter().find(|t| &t.topic == topic) {
                    if !selected.contains(t) {
                        selected.push(t.clone());
                    }
                    continue;
                }
                // Not a camera topic: say why if the topic exists at all.
                match summary.channels.values().find(|c| &c.topic == topic) {
                    Some(channel) => {
                        camera_kind(path, channel)?;
                    }
                    None => {
                        return Err(McapError::TopicNotFound {
                            path: path.to_path_buf(),
                            topic: topic.clone(),
                            available: available.iter().map(|t| t.topic.clone()).collect(),
                        })
                    }
                }
            }
            selected
        };
        let mut channels = HashMap::new();
        let mut kinds = HashMap::new();
        for channel in summary.channels.values() {
            if let Some(t) = selected.iter().find(|t| t.topic == channel.topic) {
                // Same topic, other channel with a non-camera schema: decoding it as the
                // topic's camera kind would fail, so check it too.
                let kind = camera_kind(path, channel)?;
                channels.insert(channel.id, Arc::<str>::from(t.topic.as_str()));
                kinds.insert(channel.id, kind);
            }
        }
        let mut reader = ChannelReader::new(Arc::from(path), file, &summary, channels)?;
        let raw: HashSet<u16> = kinds
            .iter()
            .filter(|(_, k)| **k == CameraKind::Raw)
            .map(|(id, _)| *id)
            .collect();
        reader.raw_limit = Some((raw, image_codec::DEFAULT_MAX_PIXELS));
        Ok(Self {
            reader,
            kinds,
            topics: selected,
        })
    }

    /// Sets the pixel limit that [`decode_frame_limited`] will apply (`input.max_pixels`), so
    /// that a raw frame over it is not copied whole out of its chunk (default
    /// [`image_codec::DEFAULT_MAX_PIXELS`]).
    pub fn with_max_pixels(mut self, max_pixels: u64) -> Self {
        if let Some((_, limit)) = &mut self.reader.raw_limit {
            *limit = max_pixels;
        }
        self
    }

    /// The selected topics, sorted by name when all were selected, else in the order asked.
    pub fn topics(&self) -> &[CameraTopic] {
        &self.topics
    }

    /// Total messages of the selected topics according to the summary (for progress bars).
    pub fn message_count(&self) -> u64 {
        self.topics.iter().map(|t| t.message_count).sum()
    }
}

/// One message of a selected topic, not decoded (see [`McapTopicSource`]).
#[derive(Debug, Clone)]
pub struct TopicMessage {
    pub topic: Arc<str>,
    pub channel_id: u16,
    /// Position in its topic in read order, from 0.
    pub index: u64,
    pub log_time_ns: u64,
    pub publish_time_ns: u64,
    /// The message bytes as stored (CDR with its encapsulation header for `cdr` channels).
    pub data: Vec<u8>,
}

/// The messages of the channels of one schema (e.g. `vision_msgs/msg/Detection2DArray`) on the
/// selected topics of one file, in log-time order, streamed as [`McapCameraSource`] streams
/// camera topics: only the chunks being read are in memory, however big the file.
pub struct McapTopicSource {
    reader: ChannelReader,
    topics: Vec<String>,
}

impl McapTopicSource {
    /// The topics with a channel of schema `schema_name`, sorted, whether or not they have
    /// messages (from the summary).
    pub fn topics_with_schema(
        path: impl AsRef<Path>,
        schema_name: &str,
    ) -> Result<Vec<String>, McapError> {
        let path = path.as_ref();
        let mut file = open(path)?;
        let summary = read_summary(path, &mut file)?;
        Ok(schema_topics(&summary, schema_name))
    }

    /// Opens `path` and selects the channels of schema `schema_name` on `topics` (a topic
    /// without such a channel is selected and yields nothing).
    pub fn open(
        path: impl AsRef<Path>,
        schema_name: &str,
        topics: &[String],
    ) -> Result<Self, McapError> {
        let path = path.as_ref();
        let mut file = open(path)?;
        let summary = read_summary(path, &mut file)?;
        let channels: HashMap<u16, Arc<str>> = summary
            .channels
            .values()
            .filter(|c| c.schema.as_ref().is_some_and(|s| s.name == schema_name))
            .filter(|c| topics.contains(&c.topic))
            .map(|c| (c.id, Arc::<str>::from(c.topic.as_str())))
            .collect();
        Ok(Self {
            reader: ChannelReader::new(Arc::from(path), file, &summary, channels)?,
            topics: topics.to_vec(),
        })
    }

    /// The selected topics, in the order asked.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }
}

impl Iterator for McapTopicSource {
    type Item = Result<TopicMessage, McapError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.reader.next()
    }
}

impl std::fmt::Debug for McapTopicSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McapTopicSource")
            .field("path", &self.reader.path)
            .field("topics", &self.topics)
            .finish()
    }
}

/// Topics with a channel of schema `schema_name`, sorted by name.
fn schema_topics(summary: &mcap::Summary, schema_name: &str) -> Vec<String> {
    let mut topics: Vec<String> = summary
        .channels
        .values()
        .filter(|c| c.schema.as_ref().is_some_and(|s| s.name == schema_name))
        .map(|c| c.topic.clone())
        .collect();
    topics.sort();
    topics.dedup();
    topics
}

/// The leading fields of a `sensor_msgs/msg/Image` (CDR is positional; trailing fields are
/// ignored): enough to know its size without touching its pixels.
#[derive(serde::Deserialize)]
struct ImageSize {
    _header: crate::types::Header,
    height: u32,
    width: u32,
}

/// `(width, height)` of a `sensor_msgs/msg/Image` from its CDR bytes; `None` when they do not
/// parse (the full decode then says why).
fn raw_image_size(cdr: &[u8]) -> Option<(u32, u32)> {
    let size: ImageSize = msgs::from_cdr(cdr).ok()?;
    Some((size.width, size.height))
}

/// How much of an oversize raw message is kept: its size fields, so that decoding it reports
/// the size, without a copy of pixels that will never be decoded.
const OVERSIZE_PREFIX_BYTES: usize = 64 * 1024;

/// Copies a message out of the reader's chunk buffer. A raw `Image` whose size fields exceed
/// the pixel limit (or are zero) is copied only up to [`OVERSIZE_PREFIX_BYTES`]: decoding it
/// fails on the size anyway (a skippable bad frame), and the full copy of a crafted 12000x12000
/// frame would cost 432 MB more.
fn copy_message(raw_limit: &Option<(HashSet<u16>, u64)>, channel_id: u16, data: &[u8]) -> Vec<u8> {
    if let Some((channels, max_pixels)) = raw_limit {
        if data.len() > OVERSIZE_PREFIX_BYTES && channels.contains(&channel_id) {
            let refused = raw_image_size(data).is_some_and(|(w, h)| {
                image_codec::check_pixels(u64::from(w), u64::from(h), *max_pixels).is_err()
            });
            if refused {
                return data[..OVERSIZE_PREFIX_BYTES].to_vec();
            }
        }
    }
    data.to_vec()
}

/// What lookout needs of a chunk's index entry to read and check the chunk itself.
#[derive(Debug, Clone)]
struct ChunkMeta {
    /// Where the chunk record (opcode first) starts.
    start_offset: u64,
    uncompressed_size: u64,
    compression: String,
}

/// The messages of the selected channels of one file: in log-time order through the chunk
/// indexes, or front to back in file order for a file without chunks.
struct ChannelReader {
    path: Arc<Path>,
    file: File,
    file_size: u64,
    mode: ReadMode,
    /// Selected channels by id: their topic.
    channels: HashMap<u16, Arc<str>>,
    next_index: HashMap<Arc<str>, u64>,
    /// Chunks by the offset of their compressed data (what the indexed reader asks for).
    chunks: HashMap<u64, ChunkMeta>,
    /// Bytes handed to the linear reader so far (its position in the file).
    linear_pos: u64,
    /// Channels of raw `Image`s and the pixel limit: a message over it is copied only as far as
    /// its size fields (see [`copy_message`]).
    raw_limit: Option<(HashSet<u16>, u64)>,
    chunk_buf: Vec<u8>,
    done: bool,
}

/// Checks every chunk index entry against the file before the indexed reader (which allocates
/// `uncompressed_size` for each chunk it decompresses) sees it; returns the chunks by the offset
/// of their compressed data.
fn check_chunk_indexes(
    path: &Path,
    summary: &mcap::Summary,
    file_size: u64,
) -> Result<HashMap<u64, ChunkMeta>, McapError> {
    let corrupt = |detail: String| McapError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let mut chunks = HashMap::new();
    for (i, index) in summary.chunk_indexes.iter().enumerate() {
        let start = index.chunk_start_offset;
        let data_offset = index
            .compressed_data_offset()
            .ok()
            .filter(|&o| o <= file_size);
        let fits = data_offset
            .and_then(|o| o.checked_add(index.compressed_size))
            .is_some_and(|end| end <= file_size);
        let Some(data_offset) = data_offset.filter(|_| fits) else {
            return Err(corrupt(format!(
                "chunk index {i} (chunk at offset {start}) claims compressed_size {} bytes, \
                 more than the file's {file_size} bytes hold",
                index.compressed_size
            )));
        };
        for (field, len) in [
            ("compressed_size", index.compressed_size),
            ("uncompressed_size", index.uncompressed_size),
        ] {
            if len > MAX_RECORD_BYTES {
                return Err(corrupt(format!(
                    "chunk index {i} (chunk at offset {start}) claims {field} {len} bytes, over \
                 the limit of {MAX_RECORD_BYTES} bytes per chunk"
                )));
            }
        }
        if index.compression.is_empty() && index.compressed_size != index.uncompressed_size {
            return Err(corrupt(format!(
                "chunk index {i} (chunk at offset {start}): an uncompressed chunk with \
                 compressed_size {} != uncompressed_size {}",
                index.compressed_size, index.uncompressed_size
            )));
        }
        chunks.insert(
            data_offset,
            ChunkMeta {
                start_offset: start,
                uncompressed_size: index.uncompressed_size,
                compression: index.compression.clone(),
            },
        );
    }
    Ok(chunks)
}

/// The fields of a chunk record's header that lookout checks: `(uncompressed_size,
/// uncompressed_crc, compression, compressed_size)`, from the record bytes starting at the
/// opcode.
fn parse_chunk_header(record: &[u8]) -> Option<(u64, u32, &[u8], u64)> {
    let u64_at = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(record.get(at..at + 8)?.try_into().ok()?))
    };
    if *record.first()? != mcap::records::op::CHUNK {
        return None;
    }
    // opcode, record length, message start and end time.
    let uncompressed_size = u64_at(1 + 8 + 8 + 8)?;
    let crc_at = 1 + 8 + 8 + 8 + 8;
    let crc = u32::from_le_bytes(record.get(crc_at..crc_at + 4)?.try_into().ok()?);
    let len_at = crc_at + 4;
    let name_len = u32::from_le_bytes(record.get(len_at..len_at + 4)?.try_into().ok()?) as usize;
    let compression = record.get(len_at + 4..(len_at + 4).checked_add(name_len)?)?;
    let compressed_size = u64_at(len_at + 4 + name_len)?;
    Some((uncompressed_size, crc, compression, compressed_size))
}

/// The CRC-32 of a chunk's data decompressed, streamed through a small buffer (so it costs a
/// second decompression but no memory); `Err` when the data does not decompress to
/// `uncompressed_size` bytes.
fn chunk_crc(compression: &str, data: &[u8], uncompressed_size: u64) -> Result<u32, String> {
    let mut reader: Box<dyn Read + '_> = match compression {
        "" => Box::new(data),
        "zstd" => {
            Box::new(zstd::stream::read::Decoder::with_buffer(data).map_err(|e| e.to_string())?)
        }
        "lz4" => Box::new(lz4::Decoder::new(data).map_err(|e| e.to_string())?),
        other => return Err(format!("unsupported chunk compression `{other}`")),
    };
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = uncompressed_size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = reader
            .read(&mut buf[..want])
            .map_err(|e| format!("does not decompress: {e}"))?;
        if n == 0 {
            return Err(format!(
                "decompresses to {} bytes, not the {uncompressed_size} its header states",
                uncompressed_size - left
            ));
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hasher.finalize())
}

impl ChannelReader {
    fn new(
        path: Arc<Path>,
        mut file: File,
        summary: &mcap::Summary,
        channels: HashMap<u16, Arc<str>>,
    ) -> Result<Self, McapError> {
        let file_size = file_size(&path, &file)?;
        let chunks = check_chunk_indexes(&path, summary, file_size)?;
        // Files written without chunks (rosbag2's `fastwrite` preset) have a summary but no
        // chunk index to sort by: read those front to back, in file order.
        let mode = if summary.chunk_indexes.is_empty() {
            file.seek(SeekFrom::Start(0))
                .map_err(|source| McapError::Open {
                    path: path.to_path_buf(),
                    source,
                })?;
            let options = LinearReaderOptions::default()
                .with_record_length_limit(MAX_RECORD_BYTES as usize)
                .with_validate_chunk_crcs(true);
            ReadMode::Linear(Box::new(LinearReader::new_with_options(options)))
        } else {
            let mut topics: Vec<String> = channels.values().map(|t| t.to_string()).collect();
            topics.sort();
            topics.dedup();
            let options = IndexedReaderOptions::new()
                .with_order(ReadOrder::LogTime)
                .include_topics(topics)
                .with_record_length_limit(MAX_RECORD_BYTES as usize);
            let reader = IndexedReader::new_with_options(summary, options).map_err(|source| {
                McapError::Read {
                    path: path.to_path_buf(),
                    source: Box::new(source),
                }
            })?;
            ReadMode::Indexed(Box::new(reader))
        };
        Ok(Self {
            path,
            file,
            file_size,
            mode,
            channels,
            next_index: HashMap::new(),
            chunks,
            linear_pos: 0,
            raw_limit: None,
            chunk_buf: Vec::new(),
            done: false,
        })
    }

    /// Reads the chunk whose compressed data starts at `offset` (`length` bytes, both from a
    /// checked chunk index), checks its header against the index and its CRC, and hands the
    /// data to the indexed reader.
    fn read_chunk(&mut self, offset: u64, length: usize) -> Result<(), McapError> {
        let corrupt = |detail: String| McapError::Corrupt {
            path: self.path.to_path_buf(),
            detail,
        };
        let Some(meta) = self.chunks.get(&offset).cloned() else {
            return Err(corrupt(format!(
                "no chunk index for the chunk data at offset {offset}"
            )));
        };
        let start = meta.start_offset;
        // Both were checked against the file size in `check_chunk_indexes`.
        let header_len = (offset - start) as usize;
        self.chunk_buf.resize(header_len + length, 0);
        self.file
            .seek(SeekFrom::Start(start))
            .and_then(|_| self.file.read_exact(&mut self.chunk_buf))
            .map_err(|e| {
                corrupt(format!(
                    "chunk of {length} bytes at offset {start} cannot be read: {e}"
                ))
            })?;
        let (record, data) = self.chunk_buf.split_at(header_len);
        let Some((uncompressed_size, crc, compression, compressed_size)) =
            parse_chunk_header(record)
        else {
            return Err(corrupt(format!(
                "the chunk index points at offset {start}, where no chunk record starts"
            )));
        };
        if uncompressed_size != meta.uncompressed_size
            || compression != meta.compression.as_bytes()
            || compressed_size != length as u64
        {
            return Err(corrupt(format!(
                "the chunk at offset {start} does not match its index (uncompressed size \
                 {uncompressed_size} vs {}, compressed size {compressed_size} vs {length})",
                meta.uncompressed_size
            )));
        }
        // A CRC of 0 means the writer did not compute one (MCAP spec).
        if crc != 0 {
            let actual = chunk_crc(&meta.compression, data, uncompressed_size)
                .map_err(|e| corrupt(format!("chunk at offset {start}: {e}")))?;
            if actual != crc {
                return Err(corrupt(format!(
                    "chunk at offset {start}: CRC mismatch (the header says {crc:08x}, the data \
                 gives {actual:08x}): the file is damaged"
                )));
            }
        }
        let ReadMode::Indexed(reader) = &mut self.mode else {
            return Ok(());
        };
        reader
            .insert_chunk_record_data(offset, data)
            .map_err(|e| corrupt(format!("chunk at offset {start}: {e}")))
    }

    /// A message of a selected channel as a [`TopicMessage`]; `None` for other channels.
    fn topic_message(
        &mut self,
        header: &mcap::records::MessageHeader,
        data: Vec<u8>,
    ) -> Option<TopicMessage> {
        let topic = self.channels.get(&header.channel_id)?;
        let counter = self.next_index.entry(topic.clone()).or_insert(0);
        let index = *counter;
        *counter += 1;
        Some(TopicMessage {
            topic: topic.clone(),
            channel_id: header.channel_id,
            index,
            log_time_ns: header.log_time,
            publish_time_ns: header.publish_time,
            data,
        })
    }

    fn next_message(&mut self) -> Result<Option<TopicMessage>, McapError> {
        match self.mode {
            ReadMode::Indexed(_) => self.next_indexed(),
            ReadMode::Linear(_) => self.next_linear(),
        }
    }

    fn next_linear(&mut self) -> Result<Option<TopicMessage>, McapError> {
        let path = self.path.clone();
        let corrupt = |detail: String| McapError::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        loop {
            let ReadMode::Linear(reader) = &mut self.mode else {
                return Ok(None);
            };
            let need = match reader.next_event() {
                None => return Ok(None),
                Some(Err(e)) => return Err(corrupt(e.to_string())),
                Some(Ok(LinearReadEvent::ReadRequest(need))) => need,
                Some(Ok(LinearReadEvent::Record { opcode, data })) => {
                    if opcode != mcap::records::op::MESSAGE {
                        continue;
                    }
                    let record =
                        mcap::parse_record(opcode, data).map_err(|e| corrupt(e.to_string()))?;
                    let mcap::records::Record::Message { header, data } = record else {
                        continue;
                    };
                    if !self.channels.contains_key(&header.channel_id) {
                        continue;
                    }
                    let data = copy_message(&self.raw_limit, header.channel_id, &data);
                    match self.topic_message(&header, data) {
                        Some(msg) => return Ok(Some(msg)),
                        None => continue,
                    }
                }
            };
            // The reader asks for exactly what the next record needs: more than the file holds
            // is a length field that lies, refused before the buffer grows to it.
            let left = self.file_size.saturating_sub(self.linear_pos);
            if need as u64 > left {
                return Err(corrupt(format!(
                    "a record at about offset {} needs {need} more bytes, but only {left} are \
                     left in the file",
                    self.linear_pos
                )));
            }
            let read = self
                .file
                .read(reader.insert(need))
                .map_err(|e| corrupt(e.to_string()))?;
            self.linear_pos += read as u64;
            reader.notify_read(read);
        }
    }

    fn next_indexed(&mut self) -> Result<Option<TopicMessage>, McapError> {
        loop {
            let ReadMode::Indexed(reader) = &mut self.mode else {
                return Ok(None);
            };
            let (offset, length) = match reader.next_event() {
                None => return Ok(None),
                Some(Err(e)) => {
                    return Err(McapError::Corrupt {
                        path: self.path.to_path_buf(),
                        detail: e.to_string(),
                    })
                }
                Some(Ok(IndexedReadEvent::ReadChunkRequest { offset, length })) => (offset, length),
                Some(Ok(IndexedReadEvent::Message { header, data })) => {
                    // The reader filters by the selected topics; a channel of such a topic
                    // that is not selected (another schema) is skipped.
                    let data = copy_message(&self.raw_limit, header.channel_id, data);
                    match self.topic_message(&header, data) {
                        Some(msg) => return Ok(Some(msg)),
                        None => continue,
                    }
                }
            };
            self.read_chunk(offset, length)?;
        }
    }
}

/// How messages are found: through the chunk indexes (log-time order) or front to back.
enum ReadMode {
    Indexed(Box<IndexedReader>),
    Linear(Box<LinearReader>),
}

impl Iterator for ChannelReader {
    type Item = Result<TopicMessage, McapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_message();
        if !matches!(next, Ok(Some(_))) {
            self.done = true;
        }
        next.transpose()
    }
}

impl Iterator for McapCameraSource {
    type Item = Result<CameraMessage, McapError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (msg, kind) = loop {
            let msg = match self.reader.next()? {
                Ok(msg) => msg,
                Err(e) => return Some(Err(e)),
            };
            // Every selected channel has a kind: both maps are filled together in `open`.
            if let Some(kind) = self.kinds.get(&msg.channel_id) {
                break (msg, *kind);
            }
        };
        Some(Ok(CameraMessage {
            path: self.reader.path.clone(),
            topic: msg.topic,
            kind,
            index: msg.index,
            log_time_ns: msg.log_time_ns,
            publish_time_ns: msg.publish_time_ns,
            data: msg.data,
        }))
    }
}

impl std::fmt::Debug for McapCameraSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McapCameraSource")
            .field("path", &self.reader.path)
            .field("topics", &self.topics)
            .finish()
    }
}
