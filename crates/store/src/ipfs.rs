//! The store as an IPFS gateway: `GET /ipfs/<CID>` (and `HEAD`) for results, owners'
//! files (by their CIDv1) and files added through `/api/v0/add` (by the CID the answer
//! named, v0 or v1).
//!
//! Every stored object that can be fetched by CID has a **record** beside it (outside any
//! owner's folder) naming the CID its bytes have and the object's e-tag, written in the
//! same landing as the object (under the store's landing lock), and a **marker**
//! `ipfs/<CID>/<where>` by which a CID finds it. A marker is never trusted alone: it counts
//! only while the record still names that CID, the object is read only if its e-tag is
//! still the recorded one (a replaced object is skipped), and the bytes are hashed again as
//! they stream, the last chunk held back until they match: a response whose bytes are not
//! the CID's never completes. Replacing an object removes its old marker.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use confide_protocol::ipfs::{Cid, CidCheck, CidVersion, Layout};
use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{GetOptions, GetResult, ObjectStoreExt};

use crate::{StoreState, error};

/// Markers looked at for one request, at most: a CID many objects once held costs a
/// bounded amount of work to anyone asking for it.
const MARKERS_SCANNED: usize = 32;

/// Where an object's CID is recorded, and what its marker names after `ipfs/<CID>/`.
pub(crate) struct CidRecord {
    pub record: StorePath,
    pub marker_suffix: String,
}

impl CidRecord {
    fn marker(&self, cid: &Cid) -> StorePath {
        StorePath::from(format!("ipfs/{cid}/{}", self.marker_suffix))
    }
}

/// What a record holds: the CID, and the object's e-tag when it was written.
struct Recorded {
    cid: Cid,
    e_tag: Option<String>,
}

fn parse_record(bytes: &[u8]) -> Option<Recorded> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut parts = text.split_whitespace();
    let cid = parts.next()?.parse().ok()?;
    let e_tag = parts.next().map(str::to_owned);
    Some(Recorded { cid, e_tag })
}

async fn read_record(state: &StoreState, record: &StorePath) -> Option<Recorded> {
    let bytes = state.backend.get(record).await.ok()?.bytes().await.ok()?;
    parse_record(&bytes)
}

/// Records that `path` now holds bytes of `cid`, replacing what was recorded before (and
/// its marker). Call under the landing lock, right after the object landed.
pub(crate) async fn record_cid(
    state: &StoreState,
    path: &StorePath,
    cid: &Cid,
    record: &CidRecord,
) -> Result<(), object_store::Error> {
    if let Some(previous) = read_record(state, &record.record).await
        && previous.cid != *cid
    {
        match state.backend.delete(&record.marker(&previous.cid)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        unpin_if_unheld(state, previous.cid).await;
    }
    let e_tag = state.backend.head(path).await?.e_tag;
    let text = match e_tag {
        Some(e_tag) if !e_tag.contains(char::is_whitespace) => format!("{cid} {e_tag}"),
        _ => cid.to_string(),
    };
    state.backend.put(&record.record, text.into_bytes().into()).await?;
    state
        .backend
        .put(&record.marker(cid), object_store::PutPayload::default())
        .await?;
    Ok(())
}

/// A CID no stored object holds any more is unpinned from the IPFS node, if one is set.
async fn unpin_if_unheld(state: &StoreState, cid: Cid) {
    if let Some(node) = &state.ipfs_node
        && holding(state, &cid).await.is_none()
    {
        node.unpin_in_background(cid);
    }
}

/// The object holding bytes of `cid` now, opened for reading (its e-tag checked), if any,
/// with the layouts its CID may have been derived under: a result (marker
/// `ipfs/<CID>/<task>/<worker>`) or an owner's file (`ipfs/<CID>/files/<owner>/<name>`),
/// both CIDv1 with raw leaves, or an added file (`ipfs/<CID>/added`), any layout.
pub(crate) async fn holding(state: &StoreState, cid: &Cid) -> Option<(GetResult, Vec<Layout>)> {
    let prefix = StorePath::from(format!("ipfs/{cid}"));
    let mut markers = state.backend.list(Some(&prefix)).take(MARKERS_SCANNED);
    while let Some(Ok(marker)) = markers.next().await {
        let Some((object, record)) = located(marker.location.as_ref()) else {
            continue;
        };
        let layouts = match record.marker_suffix.as_str() {
            "added" => cid.layouts(),
            _ => vec![Layout::kubo(CidVersion::V1)],
        };
        let Some(recorded) = read_record(state, &record.record).await else {
            continue;
        };
        if recorded.cid != *cid {
            continue;
        }
        let options = GetOptions {
            if_match: recorded.e_tag,
            ..GetOptions::default()
        };
        if let Ok(result) = state.backend.get_opts(&object, options).await {
            return Some((result, layouts));
        }
    }
    None
}

/// The object and record a marker path names.
fn located(marker: &str) -> Option<(StorePath, CidRecord)> {
    let parts: Vec<&str> = marker.split('/').collect();
    match parts.as_slice() {
        ["ipfs", cid, "added"] => Some(crate::added::located(&cid.parse().ok()?)),
        ["ipfs", _, task, worker] => Some(crate::results::located(task.parse().ok()?, worker.parse().ok()?)),
        ["ipfs", _, "files", owner, name] => Some(crate::file_located(owner.parse().ok()?, name)),
        _ => None,
    }
}

/// `GET /ipfs/<CID>` as an IPFS gateway answers for a file: the bytes whose CID is the
/// one asked for (a CIDv0 or a base32 CIDv1), immutable, readable from any web page.
pub(crate) async fn download(State(state): State<Arc<StoreState>>, UrlPath(cid): UrlPath<String>) -> Response {
    let Ok(parsed) = cid.parse::<Cid>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_CID",
            "expected /ipfs/<CID>: a CIDv0 (Qm…) or a base32 CIDv1 (bafk… or bafy…)",
        );
    };
    let Some((result, layouts)) = holding(&state, &parsed).await else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such file");
    };
    state.downloads.fetch_add(1, Ordering::Relaxed);
    let size = result.meta.size;
    let body = verified(result.into_stream(), CidCheck::with_layouts(parsed, &layouts));
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (header::ETAG, format!("\"{parsed}\"")),
            (header::CACHE_CONTROL, "public, max-age=29030400, immutable".to_owned()),
            (
                header::HeaderName::from_static("x-ipfs-path"),
                format!("/ipfs/{parsed}"),
            ),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*".to_owned()),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// `chunks`, hashed as they pass, with the last one held back until `check` finds the
/// whole is the file its CID names; otherwise the stream ends in an error instead of that
/// chunk.
/// (The server ends a response once `Content-Length` bytes are written, so a check placed
/// after the last byte would never run.)
pub(crate) fn verified(
    chunks: futures::stream::BoxStream<'static, Result<Bytes, object_store::Error>>,
    check: CidCheck,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    struct Verifying {
        chunks: futures::stream::BoxStream<'static, Result<Bytes, object_store::Error>>,
        held: Option<Bytes>,
        check: CidCheck,
    }
    let start = Verifying {
        chunks,
        held: None,
        check,
    };
    futures::stream::unfold(Some(start), move |state| async move {
        let mut state = state?;
        loop {
            match state.chunks.next().await {
                Some(Ok(chunk)) => {
                    state.check.update(&chunk);
                    if let Some(previous) = state.held.replace(chunk) {
                        return Some((Ok(previous), Some(state)));
                    }
                }
                Some(Err(e)) => return Some((Err(std::io::Error::other(e)), None)),
                None => {
                    let last = state.held.take();
                    return if state.check.matches() {
                        last.map(|last| (Ok(last), None))
                    } else {
                        let cut = std::io::Error::other("the stored bytes are not the CID's: the response is cut off");
                        Some((Err(cut), None))
                    };
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use confide_protocol::ipfs::CidVersion;

    async fn collect(content: Vec<Vec<u8>>, expected: Cid) -> (Vec<u8>, bool) {
        let chunks: Vec<Result<Bytes, object_store::Error>> = content.into_iter().map(|c| Ok(Bytes::from(c))).collect();
        let mut stream = Box::pin(verified(futures::stream::iter(chunks).boxed(), CidCheck::new(expected)));
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(bytes) => out.extend_from_slice(&bytes),
                Err(_) => return (out, false),
            }
        }
        (out, true)
    }

    #[tokio::test]
    async fn the_last_chunk_waits_for_the_cid_to_match() {
        let good = confide_protocol::ipfs::file_cid(CidVersion::V1, b"hello world");
        assert_eq!(
            collect(vec![b"hello ".to_vec(), b"world".to_vec()], good).await,
            (b"hello world".to_vec(), true)
        );
        // Other bytes of the same length: everything but the held-back last chunk, then an
        // error; the response never reaches its Content-Length.
        let (served, completed) = collect(vec![b"hello ".to_vec(), b"mars!".to_vec()], good).await;
        assert!(!completed);
        assert_eq!(served, b"hello ".to_vec());
        let empty = confide_protocol::ipfs::file_cid(CidVersion::V1, b"");
        assert_eq!(collect(vec![], empty).await, (Vec::new(), true));
        assert_eq!(collect(vec![b"x".to_vec()], empty).await, (Vec::new(), false));
    }
}
