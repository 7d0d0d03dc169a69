//! Every file lookout writes goes through here, so that an output can never destroy an input
//! and a file at an output path is always complete:
//!
//! - [`refuse_inputs`]: before anything is opened for writing, an output that resolves to an
//!   input (same path, a symlink, a `dir/../` spelling, a hard link: compared by device and
//!   inode when the file exists) or to another output is refused, naming both paths.
//! - [`PendingOutput`] / [`write_atomic`]: an output is written to a temporary name beside its
//!   target (`.<name>.<random>`, same directory, so the rename cannot cross file systems) and
//!   renamed over the target only when it is complete. Dropped without
//!   [`PendingOutput::commit`] (an error, a panic unwinding), the temporary file is removed and
//!   the target keeps whatever it held before.
//! - A process-wide list of the temporary names still open, so that a last-resort exit on a
//!   signal ([`remove_unfinished`]) leaves no temporary file behind, and of the outputs
//!   completed ([`committed`]), so the binary can say which outputs a run left.
//! - [`request_abort`] / [`abort_requested`]: the operator asked a second time to stop while the
//!   outputs were being finished; slow outputs (the mp4 encoding) are dropped, fast ones (the
//!   MCAP summary, small text files) still finished.
//!
//! Signals and temporary names are process-wide by nature, hence the statics.

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// An output that would overwrite an input, or two outputs that are one file.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("refusing to write {output}: it is the input {input} (outputs never replace inputs; choose another output path)")]
    SameAsInput { output: PathBuf, input: PathBuf },
    #[error("refusing to write {first} and {second}: they are the same file (give each output its own path)")]
    SameOutput { first: PathBuf, second: PathBuf },
}

/// What identifies a file: device and inode when it exists (this sees through symlinks, hard
/// links and any spelling of the path), else its absolute path with the parent resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FileId {
    Inode { dev: u64, ino: u64 },
    Path(PathBuf),
}

fn file_id(path: &Path) -> FileId {
    if let Ok(meta) = std::fs::metadata(path) {
        return FileId::Inode {
            dev: meta.dev(),
            ino: meta.ino(),
        };
    }
    FileId::Path(resolve_new(path))
}

/// The absolute path a file that does not exist yet will have: the longest existing ancestor
/// of the path as spelled canonicalized (the kernel's reading of its symlinks and `..`), then
/// the missing tail applied lexically (it holds no symlinks: none of it exists).
fn resolve_new(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut tail = Vec::new();
    let mut base = absolute.as_path();
    let mut out = loop {
        if let Ok(real) = std::fs::canonicalize(base) {
            break real;
        }
        match (base.parent(), base.components().next_back()) {
            (Some(parent), Some(last)) => {
                tail.push(last);
                base = parent;
            }
            _ => break PathBuf::new(),
        }
    };
    for c in tail.into_iter().rev() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Refuses any output that is one of the inputs, or the same file as another output. Call it
/// before any output is created. Inputs that do not exist are skipped (opening them reports
/// that); outputs that do not exist are compared by resolved path.
pub fn refuse_inputs(outputs: &[&Path], inputs: &[&Path]) -> Result<(), OutputError> {
    let input_ids: Vec<(FileId, &Path)> = inputs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok().map(|_| (file_id(p), *p)))
        .collect();
    let mut seen: Vec<(FileId, &Path)> = Vec::new();
    for &output in outputs {
        let id = file_id(output);
        if let Some((_, input)) = input_ids.iter().find(|(i, _)| *i == id) {
            return Err(OutputError::SameAsInput {
                output: output.to_owned(),
                input: input.to_path_buf(),
            });
        }
        if let Some((_, first)) = seen.iter().find(|(s, _)| *s == id) {
            return Err(OutputError::SameOutput {
                first: first.to_path_buf(),
                second: output.to_owned(),
            });
        }
        seen.push((id, output));
    }
    Ok(())
}

/// A temporary name still open: its path and the output it stands for.
struct Unfinished {
    id: u64,
    temp: PathBuf,
    target: PathBuf,
}

static UNFINISHED: Mutex<Vec<Unfinished>> = Mutex::new(Vec::new());
static COMMITTED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static ABORT: AtomicBool = AtomicBool::new(false);

/// A poisoned list is still a list of paths: a panic elsewhere must not keep temporary files.
fn lock<T>(m: &'static Mutex<T>) -> MutexGuard<'static, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Registers a temporary file or folder standing for `target`; unregistered when the guard
/// drops (it does not remove anything itself).
#[derive(Debug)]
pub struct TempGuard {
    id: u64,
}

impl TempGuard {
    /// Lists `temp` (a file or folder) as the unfinished form of `target`.
    pub fn register(temp: &Path, target: &Path) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        lock(&UNFINISHED).push(Unfinished {
            id,
            temp: temp.to_owned(),
            target: target.to_owned(),
        });
        Self { id }
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        lock(&UNFINISHED).retain(|u| u.id != self.id);
    }
}

/// An output being written under a temporary name beside its target.
#[derive(Debug)]
pub struct PendingOutput {
    /// `None` once committed; dropping a `TempPath` removes the file.
    temp: Option<tempfile::TempPath>,
    /// Where the file goes (a symlink at the requested path resolved).
    target: PathBuf,
    /// The path as the caller gave it, for [`was_committed`].
    requested: PathBuf,
    guard: TempGuard,
}

impl PendingOutput {
    /// Creates the temporary file for `target` (in its folder) and returns it open for writing.
    /// A symlink at `target` is followed: the file it names receives the output, as when
    /// writing through it. The new file gets the target's permissions when it exists, else the
    /// usual `0666` less the umask.
    pub fn create(requested: &Path) -> io::Result<(File, Self)> {
        let target = match std::fs::symlink_metadata(requested) {
            Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(requested)?,
            _ => requested.to_owned(),
        };
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        // The extension stays last so tools that pick a format by name (ffmpeg) still can.
        let suffix = target
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let permissions = std::fs::metadata(&target)
            .map(|m| Permissions::from_mode(m.permissions().mode() & 0o7777))
            .unwrap_or_else(|_| Permissions::from_mode(0o666));
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp-{}-", std::process::id()))
            .suffix(&suffix)
            .permissions(permissions)
            .tempfile_in(&dir)?;
        let guard = TempGuard::register(temp.path(), &target);
        let (file, path) = temp.into_parts();
        Ok((
            file,
            Self {
                temp: Some(path),
                target,
                requested: requested.to_owned(),
                guard,
            },
        ))
    }

    /// The temporary file's path (for a tool that writes it by name, like ffmpeg).
    pub fn temp_path(&self) -> &Path {
        self.temp.as_deref().unwrap_or(&self.target)
    }

    /// Renames the complete temporary file over the target. Everything must have been written
    /// and flushed. On failure the temporary file is removed.
    pub fn commit(mut self) -> io::Result<()> {
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        // Under the list's lock: a last-resort exit either sees the temporary name or the
        // renamed output, never removes a file between the two.
        let mut unfinished = lock(&UNFINISHED);
        temp.persist(&self.target).map_err(|e| e.error)?;
        unfinished.retain(|u| u.id != self.guard.id);
        drop(unfinished);
        lock(&COMMITTED).push(self.requested.clone());
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, renamed over it when
/// complete. On an error `path` is untouched and no temporary file is left.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (mut file, pending) = PendingOutput::create(path)?;
    file.write_all(bytes)?;
    file.flush()?;
    drop(file);
    pending.commit()
}

/// Checks that `path` can be written (a temporary file created beside it and removed), so that
/// an unwritable folder is reported before any work, not after it.
pub fn probe_writable(path: &Path) -> io::Result<()> {
    let (file, pending) = PendingOutput::create(path)?;
    drop(file);
    drop(pending);
    Ok(())
}

/// Removes every temporary file and folder still open and returns the outputs they stood
/// for. For a last-resort exit (a signal while finishing), where destructors will not run.
pub fn remove_unfinished() -> Vec<PathBuf> {
    let unfinished = lock(&UNFINISHED);
    let mut dropped = Vec::new();
    for u in unfinished.iter() {
        let removed = if u.temp.is_dir() {
            std::fs::remove_dir_all(&u.temp)
        } else {
            std::fs::remove_file(&u.temp)
        };
        if removed.is_ok() && !dropped.contains(&u.target) {
            dropped.push(u.target.clone());
        }
    }
    // The lock is kept: the process is about to exit, and no commit may rename a half-removed
    // output in between.
    std::mem::forget(unfinished);
    dropped
}

/// Whether `path` (as given to [`PendingOutput::create`]) was completed by this process.
pub fn was_committed(path: &Path) -> bool {
    lock(&COMMITTED).iter().any(|p| p == path)
}

/// The operator insists (a second signal while finishing): drop slow outputs, finish the rest.
pub fn request_abort() {
    ABORT.store(true, Ordering::SeqCst);
}

/// Whether [`request_abort`] was called.
pub fn abort_requested() -> bool {
    ABORT.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn an_output_that_is_an_input_by_any_spelling_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.mcap");
        std::fs::write(&input, b"x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let link = dir.path().join("link.mcap");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        let hard = dir.path().join("hard.mcap");
        std::fs::hard_link(&input, &hard).unwrap();
        let dotted = dir.path().join("sub/../in.mcap");
        for out in [&input, &link, &hard, &dotted] {
            let err = refuse_inputs(&[out], &[&input]).unwrap_err();
            assert!(
                matches!(err, OutputError::SameAsInput { .. }),
                "{}: {err}",
                out.display()
            );
        }
        let other = dir.path().join("sub/out.mcap");
        refuse_inputs(&[&other], &[&input]).unwrap();
    }

    #[test]
    fn new_outputs_through_a_symlink_and_dotdot_resolve_as_the_kernel_does() {
        // `link/..` is the parent of the link's target, not the folder holding the link.
        let dir = tempfile::tempdir().unwrap();
        let d = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(d.join("real/sub")).unwrap();
        std::os::unix::fs::symlink(d.join("real/sub"), d.join("link")).unwrap();
        assert_eq!(
            resolve_new(&d.join("link/../x.mcap")),
            d.join("real/x.mcap")
        );
        assert_eq!(resolve_new(&d.join("new/../y.mcap")), d.join("y.mcap"));
        // Two spellings of one new file are one output; the lexical reading would miss it.
        let a = d.join("link/../x.mcap");
        let b = d.join("real/x.mcap");
        let err = refuse_inputs(&[&a, &b], &[]).unwrap_err();
        assert!(matches!(err, OutputError::SameOutput { .. }), "{err}");
    }

    #[test]
    fn two_outputs_that_are_one_file_are_refused_even_before_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("new/a.txt");
        let b = dir.path().join("new/../new/./a.txt");
        let err = refuse_inputs(&[&a, &b], &[]).unwrap_err();
        assert!(matches!(err, OutputError::SameOutput { .. }), "{err}");
        refuse_inputs(&[&a, &dir.path().join("new/b.txt")], &[]).unwrap();
    }

    #[test]
    fn atomic_output_appears_whole_or_not_at_all_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.json");
        std::fs::write(&target, b"old").unwrap();
        let (mut file, pending) = PendingOutput::create(&target).unwrap();
        file.write_all(b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(names(dir.path()).len(), 2);
        drop(pending); // an error part-way: the old file stays, the temporary goes
        assert_eq!(names(dir.path()), ["out.json"]);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        write_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["out.json"]);
        assert!(was_committed(&target));
    }

    #[test]
    fn an_unwritable_folder_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir/out.txt");
        assert!(write_atomic(&missing, b"x").is_err());
        assert!(probe_writable(&missing).is_err());
        probe_writable(&dir.path().join("fine.txt")).unwrap();
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn writing_through_a_symlink_replaces_the_file_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
    }
}
