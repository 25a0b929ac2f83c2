//! The local directory store: the same layout as a bucket prefix, as plain files.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use crate::error::{Op, StoreError};
use crate::key::is_store_key;
use crate::object::{Fetched, Listed};

/// Files a write is still filling start with this (the builder's own writer uses it too);
/// listings skip them.
const TEMP_MARK: &str = ".tmp-";

fn path_of(dir: &Path, key: &str) -> Result<PathBuf, StoreError> {
    if is_store_key(key) {
        Ok(dir.join(key))
    } else {
        Err(StoreError::BadKey(key.to_owned()))
    }
}

fn io_error(op: Op, key: &str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { op, key: key.to_owned(), source }
}

pub(crate) async fn get_conditional(
    dir: &Path,
    key: &str,
    validator: Option<&str>,
) -> Result<Fetched, StoreError> {
    let path = path_of(dir, key)?;
    let meta = match tokio::fs::metadata(&path).await {
        Ok(meta) => meta,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Fetched::Missing),
        Err(err) => return Err(io_error(Op::Read, key)(err)),
    };
    let modified = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok());
    let stamp = modified.map(|m| format!("{}.{}-{}", m.as_secs(), m.subsec_nanos(), meta.len()));
    if stamp.is_some() && stamp.as_deref() == validator {
        return Ok(Fetched::NotModified);
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok(Fetched::Found { bytes: Bytes::from(bytes), validator: stamp }),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(Fetched::Missing),
        Err(err) => Err(io_error(Op::Read, key)(err)),
    }
}

pub(crate) async fn head(dir: &Path, key: &str) -> Result<Option<u64>, StoreError> {
    match tokio::fs::metadata(path_of(dir, key)?).await {
        Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
        Ok(_) => Ok(None),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_error(Op::Head, key)(err)),
    }
}

pub(crate) async fn list(dir: &Path, folder: &str, start: &str) -> Result<Vec<Listed>, StoreError> {
    let folder_key = folder.trim_end_matches('/');
    let root = if folder_key.is_empty() { dir.to_owned() } else { path_of(dir, folder_key)? };
    let mut listed = Vec::new();
    // Depth-first over the folder's subfolders; names are `/`-joined like S3 keys.
    let mut pending = vec![(root, String::new())];
    while let Some((path, name_prefix)) = pending.pop() {
        let mut entries = match tokio::fs::read_dir(&path).await {
            Ok(entries) => entries,
            Err(err) if err.kind() == ErrorKind::NotFound => continue,
            Err(err) => return Err(io_error(Op::List, folder)(err)),
        };
        while let Some(entry) = entries.next_entry().await.map_err(io_error(Op::List, folder))? {
            let Ok(file_name) = entry.file_name().into_string() else { continue };
            if file_name.starts_with(TEMP_MARK) {
                continue;
            }
            let name = format!("{name_prefix}{file_name}");
            let meta = entry.metadata().await.map_err(io_error(Op::List, folder))?;
            if meta.is_dir() {
                pending.push((entry.path(), format!("{name}/")));
            } else if name.starts_with(start) {
                listed.push(Listed { name, size: meta.len(), modified: meta.modified().ok() });
            }
        }
    }
    Ok(listed)
}

/// Distinct temporary names for concurrent writes of one key in one process.
static WRITES: AtomicU64 = AtomicU64::new(0);

pub(crate) async fn put(dir: &Path, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let path = path_of(dir, key)?;
    let io = io_error(Op::Write, key);
    let (Some(parent), Some(file_name)) = (path.parent(), path.file_name()) else {
        return Err(StoreError::BadKey(key.to_owned()));
    };
    let tmp = parent.join(format!(
        "{TEMP_MARK}{}-{}-{}",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed),
        file_name.to_string_lossy()
    ));
    let written = async {
        tokio::fs::create_dir_all(parent).await?;
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await
    };
    if let Err(err) = written.await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(io(err));
    }
    Ok(())
}

pub(crate) async fn delete(dir: &Path, key: &str) -> Result<(), StoreError> {
    match tokio::fs::remove_file(path_of(dir, key)?).await {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io_error(Op::Delete, key)(err)),
    }
}

#[cfg(test)]
mod tests {
    use crate::{Fetched, Store, StoreError};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::Local(dir.path().to_owned());
        (dir, store)
    }

    #[tokio::test]
    async fn local_conditional_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("channels")).expect("mkdir");
        std::fs::write(dir.path().join("channels/live.json"), "{}").expect("write");
        let store = Store::Local(dir.path().to_owned());
        let Fetched::Found { validator, .. } =
            store.get_conditional("channels/live.json", None).await.expect("read")
        else {
            panic!("found")
        };
        let again = store.get_conditional("channels/live.json", validator.as_deref()).await.expect("read");
        assert!(matches!(again, Fetched::NotModified));
        assert!(matches!(store.get_conditional("nope", None).await.expect("read"), Fetched::Missing));
    }

    #[tokio::test]
    async fn put_head_list_delete_round_trip() {
        let (dir, store) = store();
        store.put("objects/ab12", "hello".into()).await.expect("put");
        store.put("objects/cd34", "hi".into()).await.expect("put");
        store.put("objects/ab12", "hello!".into()).await.expect("overwrite");
        store.put("channels/live.json", "{}".into()).await.expect("put");
        assert_eq!(store.get("objects/ab12").await.expect("get").as_deref(), Some(&b"hello!"[..]));
        assert_eq!(store.head("objects/ab12").await.expect("head"), Some(6));
        assert_eq!(store.head("objects/none").await.expect("head"), None);
        assert_eq!(store.head("objects").await.expect("a folder is no object"), None);

        // A write in progress (by this crate or the builder) is not listed.
        std::fs::write(dir.path().join("objects/.tmp-1-ef56"), "partial").expect("write");
        let mut names: Vec<(String, u64)> =
            store.list("objects/", "").await.expect("list").into_iter().map(|l| (l.name, l.size)).collect();
        names.sort();
        assert_eq!(names, [("ab12".to_owned(), 6), ("cd34".to_owned(), 2)]);
        let only_c: Vec<String> =
            store.list("objects/", "c").await.expect("list").into_iter().map(|l| l.name).collect();
        assert_eq!(only_c, ["cd34"]);
        let mut everything: Vec<String> =
            store.list("", "").await.expect("list").into_iter().map(|l| l.name).collect();
        everything.sort();
        assert_eq!(everything, ["channels/live.json", "objects/ab12", "objects/cd34"]);
        assert!(store.list("releases/", "").await.expect("a missing folder is empty").is_empty());

        store.delete("objects/ab12").await.expect("delete");
        store.delete("objects/ab12").await.expect("deleting twice is fine");
        assert_eq!(store.get("objects/ab12").await.expect("get"), None);
    }

    #[tokio::test]
    async fn keys_cannot_leave_the_directory() {
        let outer = tempfile::tempdir().expect("tempdir");
        std::fs::write(outer.path().join("secret"), "no").expect("write");
        let inner = outer.path().join("store");
        std::fs::create_dir_all(&inner).expect("mkdir");
        let store = Store::Local(inner);
        let absolute = outer.path().join("secret").display().to_string();
        for key in ["../secret", "objects/../../secret", absolute.as_str(), ""] {
            assert!(matches!(store.get(key).await, Err(StoreError::BadKey(_))), "{key}");
            assert!(matches!(store.put(key, "x".into()).await, Err(StoreError::BadKey(_))), "{key}");
            assert!(matches!(store.delete(key).await, Err(StoreError::BadKey(_))), "{key}");
            assert!(matches!(store.head(key).await, Err(StoreError::BadKey(_))), "{key}");
        }
        assert!(matches!(store.list("../", "").await, Err(StoreError::BadKey(_))));
        assert_eq!(std::fs::read_to_string(outer.path().join("secret")).expect("untouched"), "no");
    }
}
