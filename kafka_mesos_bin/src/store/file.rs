//! The scheduler's state in one local file (`--storage file:<path>`).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kafka_mesos_core::store::{StateStore, StoreError, StoreVersion, Stored};
use tokio::sync::Mutex;

/// The state kept in a local file, replaced atomically on every save.
///
/// # Atomicity
/// A save writes a temporary file beside the target, syncs it, renames it over the target and
/// syncs the directory. A crash (even `kill -9` or a power loss on a file system that honours
/// `fsync`) at any point leaves either the previous document or the new one, whole.
///
/// # Versions and concurrent writers
/// A file has no version of its own, so this store counts them in the process: the first load
/// gives version 1, and the version moves on whenever the content is seen to differ from what
/// this store last loaded or saved. A save first looks at the file: when its identity (device,
/// inode, size, modification time) is that of the file this store last wrote, it is unchanged;
/// otherwise it is read again, and if another process replaced it since (its content differs),
/// the save is refused with [`StoreError::Conflict`] and nothing is written.
///
/// This is a guard, not a lock: a file store is meant for one scheduler. Another writer whose
/// rename lands in the instant between this store's check and its own rename is not detected,
/// and two processes count versions independently. Schedulers that share state (high
/// availability) use the ZooKeeper store, whose versioned writes are checked by the server.
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    location: String,
    seen: Mutex<Seen>,
}

/// What this store last knew of the file.
#[derive(Debug, Default)]
struct Seen {
    /// The last version handed out (0: none yet).
    counter: i64,
    /// The content at that version, `None` when the file was absent.
    content: Option<(StoreVersion, Vec<u8>)>,
    /// The identity of the file holding that content, when known.
    identity: Option<Identity>,
}

/// What tells one file content from another without reading it: a save renames a new file
/// (a new inode) over the old one, and a write in place changes the modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
}

impl Identity {
    fn of(metadata: &fs::Metadata) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
        }
    }
}

impl Seen {
    /// Records the file's current content and returns its version, a new one when it changed.
    fn observe(&mut self, current: Option<Vec<u8>>) -> Option<StoreVersion> {
        let current = current?;
        match &self.content {
            Some((version, known)) if *known == current => Some(*version),
            _ => {
                self.counter += 1;
                let version = StoreVersion(self.counter);
                self.content = Some((version, current));
                Some(version)
            }
        }
    }
}

impl FileStore {
    /// A store for the file at `path` (which need not exist yet). Temporary files left by a
    /// writer that was killed mid-save are removed.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let store = FileStore {
            inner: Arc::new(Inner {
                location: format!("file:{}", path.display()),
                path,
                seen: Mutex::new(Seen::default()),
            }),
        };
        store.remove_leftovers();
        store
    }

    /// The file the state is kept in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable {
            location: self.inner.location.clone(),
            reason: reason.to_string(),
        }
    }

    /// The file's name, and the prefix and suffix of its temporary files.
    fn temp_affixes(&self) -> Option<(String, &'static str)> {
        let name = self.inner.path.file_name()?.to_string_lossy();
        Some((format!(".{name}."), ".tmp"))
    }

    fn temp_path(&self) -> Result<PathBuf, StoreError> {
        let (prefix, suffix) = self
            .temp_affixes()
            .ok_or_else(|| self.unavailable("the path does not name a file"))?;
        Ok(self
            .inner
            .path
            .with_file_name(format!("{prefix}{}{suffix}", std::process::id())))
    }

    fn remove_leftovers(&self) {
        let Some((prefix, suffix)) = self.temp_affixes() else {
            return;
        };
        let Ok(entries) = fs::read_dir(directory(&self.inner.path)) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&prefix) && name.ends_with(suffix) {
                // A leftover of a killed writer; failing to remove it only leaves clutter.
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&FileStore) -> io::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|e| self.unavailable(format!("the file task failed: {e}")))?
            .map_err(|e| self.unavailable(e))
    }

    fn read(&self) -> io::Result<Option<Vec<u8>>> {
        match fs::read(&self.inner.path) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io::Error::new(e.kind(), format!("cannot read it: {e}"))),
        }
    }

    /// The file's content, unless its identity is `known` (the file this store wrote last).
    fn read_unless(&self, known: Option<Identity>) -> io::Result<Peek> {
        let identity = self.identity()?;
        if identity.is_some() && identity == known {
            return Ok(Peek::Unchanged);
        }
        Ok(Peek::Read(self.read()?))
    }

    fn identity(&self) -> io::Result<Option<Identity>> {
        match fs::metadata(&self.inner.path) {
            Ok(m) => Ok(Some(Identity::of(&m))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io::Error::new(e.kind(), format!("cannot read it: {e}"))),
        }
    }

    /// Writes `data` to a temporary file, syncs it, renames it over the target and syncs the
    /// directory, so that the rename itself survives a crash. Returns the identity of the file
    /// written.
    fn replace(&self, data: &[u8], temp: &Path) -> io::Result<Identity> {
        let context = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
        let result = (|| -> io::Result<Identity> {
            let mut file = fs::File::create(temp)
                .map_err(|e| context(&format!("cannot create {}", temp.display()), e))?;
            file.write_all(data)
                .map_err(|e| context(&format!("cannot write {}", temp.display()), e))?;
            file.sync_all()
                .map_err(|e| context(&format!("cannot sync {}", temp.display()), e))?;
            let identity = file
                .metadata()
                .map_err(|e| context(&format!("cannot read {}", temp.display()), e))?;
            fs::rename(temp, &self.inner.path)
                .map_err(|e| context(&format!("cannot rename {} over it", temp.display()), e))?;
            Ok(Identity::of(&identity))
        })();
        if result.is_err() {
            let _ = fs::remove_file(temp);
        }
        let identity = result?;
        let dir = directory(&self.inner.path);
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| context(&format!("cannot sync the directory {}", dir.display()), e))?;
        Ok(identity)
    }
}

/// The file as a save finds it.
enum Peek {
    /// The file this store wrote last.
    Unchanged,
    /// Another file (or none): its content.
    Read(Option<Vec<u8>>),
}

/// The directory holding `path` (`.` for a bare file name).
fn directory(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[async_trait::async_trait]
impl StateStore for FileStore {
    async fn load(&self) -> Result<Option<Stored>, StoreError> {
        let mut seen = self.inner.seen.lock().await;
        let current = self.blocking(|s| s.read()).await?;
        // Modification times are coarse (a few milliseconds): a file read here may be written
        // in place again unnoticed by its identity, so the next save reads it whole. Only a file
        // this store wrote itself (a new inode) is trusted by identity.
        seen.identity = None;
        let version = seen.observe(current.clone());
        Ok(current
            .zip(version)
            .map(|(data, version)| Stored { data, version }))
    }

    async fn save(
        &self,
        data: &[u8],
        expected: Option<StoreVersion>,
    ) -> Result<StoreVersion, StoreError> {
        let mut seen = self.inner.seen.lock().await;
        let known = seen.identity;
        let found = match self.blocking(move |s| s.read_unless(known)).await? {
            Peek::Unchanged => seen.content.as_ref().map(|(version, _)| *version),
            Peek::Read(current) => seen.observe(current),
        };
        if found != expected {
            return Err(StoreError::Conflict { expected, found });
        }
        let temp = self.temp_path()?;
        let owned = data.to_vec();
        let (identity, owned) = self
            .blocking(move |s| s.replace(&owned, &temp).map(|identity| (identity, owned)))
            .await?;
        seen.counter += 1;
        let version = StoreVersion(seen.counter);
        seen.content = Some((version, owned));
        seen.identity = Some(identity);
        Ok(version)
    }

    fn location(&self) -> String {
        self.inner.location.clone()
    }
}
