//! The library's top-level error: one variant per area, each area's own enum carries the context
//! (file, topic, message index, field) so that the message a user sees names what was wrong.

/// Any error from the lookout library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Asset(#[from] crate::assets::AssetError),
    #[error(transparent)]
    Image(#[from] crate::image_codec::ImageError),
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
    #[error(transparent)]
    Mcap(#[from] crate::mcap_io::McapError),
    #[error(transparent)]
    Track(#[from] crate::track::TrackError),
    #[error(transparent)]
    Mot(#[from] crate::mot::MotError),
    #[error(transparent)]
    Ground(#[from] crate::ground::GroundError),
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error(transparent)]
    Replay(#[from] crate::replay::ReplayError),
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The message of `error` and its causes, each cause's text once: `top: cause: cause`.
///
/// The library's error messages already hold their cause's text (`"{path}: {source}"`, so that
/// `to_string()` alone says what went wrong), while also exposing it as `source()`; printing the
/// whole chain naively (anyhow's `{:#}`) repeats a cause two or three times. A cause is appended
/// only when its text is not already part of the message, so errors that do not repeat their
/// source (an `anyhow` context, a `#[source]` the message leaves out) still show it.
pub fn chain_message(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !text.is_empty() && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = e.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: cannot open: {source}")]
    struct Repeats {
        path: String,
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("reading the model")]
    struct Omits {
        #[source]
        source: Repeats,
    }

    #[test]
    fn each_cause_is_printed_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = Repeats {
            path: "a.mcap".into(),
            source: io(),
        };
        assert_eq!(chain_message(&e), "a.mcap: cannot open: no such file");
        // Wrapped by the top-level enum (transparent) and by an outer message that omits it.
        let e = Error::from(crate::mcap_io::McapError::Open {
            path: "a.mcap".into(),
            source: io(),
        });
        let text = chain_message(&e);
        assert_eq!(text.matches("no such file").count(), 1, "{text}");
        let e = Omits {
            source: Repeats {
                path: "m".into(),
                source: io(),
            },
        };
        assert_eq!(
            chain_message(&e),
            "reading the model: m: cannot open: no such file"
        );
    }
}
