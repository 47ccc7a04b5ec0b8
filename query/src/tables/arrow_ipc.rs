//! Schema inference for Arrow IPC file datasets from each file's footer: two
//! small range reads per file, the same on every object store. (DataFusion's
//! own inference streams the file from its start and misreads IPC files on
//! remote stores.)

use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::convert::fb_to_schema;
use arrow::ipc::root_as_footer;
use datafusion::catalog::Session;
use datafusion::datasource::listing::ListingTableUrl;
use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use std::sync::Arc;

use super::error::{Result, TableError};

/// Magic bytes that end (and start) an Arrow IPC file.
const MAGIC: &[u8; 6] = b"ARROW1";
/// Footer length (4 bytes) plus the trailing magic.
const TRAILER: u64 = 10;
/// Largest footer read (a schema and one block entry per batch).
const MAX_FOOTER: u64 = 64 << 20;

/// The merged schema of the IPC files under `url` with suffix `extension`
/// (an empty schema when there are none).
pub(crate) async fn infer_schema(
    session: &dyn Session,
    store: &Arc<dyn ObjectStore>,
    url: &ListingTableUrl,
    extension: &str,
) -> Result<SchemaRef> {
    let files: Vec<ObjectMeta> = url
        .list_all_files(session, store.as_ref(), extension)
        .await?
        .try_collect()
        .await?;
    let mut schemas = Vec::with_capacity(files.len());
    for file in &files {
        schemas.push(file_schema(store.as_ref(), file).await?);
    }
    Ok(Arc::new(Schema::try_merge(schemas).map_err(|e| {
        TableError::invalid(format!("Arrow IPC files have incompatible schemas: {e}"))
    })?))
}

async fn file_schema(store: &dyn ObjectStore, file: &ObjectMeta) -> Result<Schema> {
    // No path in the message: readers see it too.
    let not_ipc =
        || TableError::invalid("a file of the dataset is not an Arrow IPC file (no ARROW1 footer)");
    let size = file.size;
    if size < TRAILER + 8 {
        return Err(not_ipc());
    }
    let tail = store
        .get_range(&file.location, size - TRAILER..size)
        .await
        .map_err(lake)?;
    if &tail[4..] != MAGIC {
        return Err(not_ipc());
    }
    let footer_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer_len == 0 || footer_len > size - TRAILER {
        return Err(not_ipc());
    }
    if footer_len > MAX_FOOTER {
        return Err(TableError::invalid(format!(
            "a file of the dataset has an Arrow IPC footer larger than {MAX_FOOTER} bytes"
        )));
    }
    let footer = store
        .get_range(&file.location, size - TRAILER - footer_len..size - TRAILER)
        .await
        .map_err(lake)?;
    let footer = root_as_footer(&footer).map_err(|_| not_ipc())?;
    let schema = footer.schema().ok_or_else(not_ipc)?;
    // arrow panics on some invalid schemas (unknown enum values): a file
    // anyone could have written to the lake is not trusted.
    std::panic::catch_unwind(|| fb_to_schema(schema)).map_err(|_| not_ipc())
}

fn lake(e: object_store::Error) -> TableError {
    TableError::from(e)
}
