//! kubo's RPC `add` (`POST /api/v0/add`), as iExec's SDKs call it to upload a protected
//! data (kubo-rpc-client 5: `add(bytes)`), answered as kubo answers, for one file at a
//! time and within the bounds of [`crate::added`]. Unauthenticated, as iExec's upload node
//! is.
//!
//! The request (kubo-rpc-client's `addAll`): query options (kebab case:
//! `stream-channels=true&progress=false` by default), a `multipart/form-data` body with one
//! part `Content-Disposition: form-data; name="file"; filename="<URI-encoded name>"`,
//! `Content-Type: application/octet-stream`, the file's bytes.
//!
//! The answer (go-ipfs-cmds' HTTP emitter, kubo's `AddEvent`): status 200,
//! `Content-Type: application/json`, `X-Chunked-Output: 1`, `Trailer: X-Stream-Error`, a
//! body of one JSON object a line (Go's encoding: `<`, `>`, `&` escaped):
//! `{"Name":"<name>","Bytes":<n>}` progress lines when `progress` is set, then
//! `{"Name":"<name>","Hash":"<CID>","Size":"<DAG size>"}`, where the name is the part's
//! file name (URI-decoded, cleaned) or, when it has none, the CID. kubo's errors are
//! `{"Message","Code","Type":"error"}`; ours carry `error.code`/`error.message` too.
//!
//! Options honoured: `cid-version` (0, kubo's default: UnixFS leaves; 1: raw leaves),
//! `raw-leaves`, `only-hash` (nothing stored), `progress`, `silent`; accepted as kubo
//! takes them and changing nothing here: `pin` (whatever it says, content is kept as
//! [`crate::added`] says), `stream-channels`, `quiet`, `quieter` (they shape the CLI's
//! output only), `offline`, `timeout`, `pin-name`, and every other option at its
//! default value (`chunker=size-262144`, `hash=sha2-256`, `wrap-with-directory=false`…).
//! Anything else is refused (`UNSUPPORTED_OPTION`) before a byte is read.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confide_protocol::ipfs::{CHUNK_SIZE, CidVersion, FileDag, Layout};

use crate::added::{OBJECT_CHARGE, refuse};
use crate::{Reservation, StoreState, backend_error, stage_stream};

/// Bytes a multipart body may have beyond its file (boundaries, part headers) before its
/// declared length alone refuses it.
const MULTIPART_SLACK: u64 = 64 * 1024;
/// Bytes of a body refused unread that are still read (and dropped) after the refusal,
/// so that the client, still sending, reads the refusal rather than a reset connection.
const DRAINED: usize = 1 << 20;

/// `refusal`, with the unread `body` read to its end in the background (up to
/// [`DRAINED`] bytes; past that the connection is dropped).
fn refuse_unread(body: Body, refusal: Response) -> Response {
    tokio::spawn(async move {
        use futures::StreamExt;
        let mut stream = body.into_data_stream();
        let mut read = 0;
        while let Some(Ok(chunk)) = stream.next().await {
            read += chunk.len();
            if read > DRAINED {
                break;
            }
        }
    });
    refusal
}

/// What an `add` asked for, of what changes the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AddOptions {
    layout: Layout,
    only_hash: bool,
    progress: bool,
    silent: bool,
}

/// Go's `strconv.ParseBool`, which go-ipfs-cmds applies to boolean options.
fn go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl AddOptions {
    /// Reads the query; the refusal's message names the option.
    fn parse(query: &str) -> Result<AddOptions, String> {
        let mut seen = std::collections::HashSet::new();
        let mut version = CidVersion::V0;
        let mut raw_leaves = None;
        let mut options = AddOptions {
            layout: Layout::kubo(CidVersion::V0),
            only_hash: false,
            progress: false,
            silent: false,
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let (key, value) = (key.as_ref(), value.as_ref());
            if !seen.insert(key.to_owned()) {
                return Err(format!("the option `{key}` is given twice"));
            }
            let boolean = || go_bool(value).ok_or_else(|| format!("`{key}` takes true or false, not `{value}`"));
            let only = |allowed: &[&str]| {
                if allowed.contains(&value) {
                    Ok(())
                } else {
                    Err(format!(
                        "`{key}={value}` is not supported here (only {})",
                        allowed.join(", ")
                    ))
                }
            };
            match key {
                "cid-version" => {
                    version = match value {
                        "0" => CidVersion::V0,
                        "1" => CidVersion::V1,
                        _ => return Err(format!("`cid-version={value}` is not supported here (0 or 1)")),
                    }
                }
                "raw-leaves" => raw_leaves = Some(boolean()?),
                "only-hash" => options.only_hash = boolean()?,
                "progress" => options.progress = boolean()?,
                "silent" => options.silent = boolean()?,
                "pin" | "stream-channels" | "quiet" | "quieter" | "offline" => {
                    boolean()?;
                }
                "timeout" | "pin-name" => {}
                "chunker" => only(&["size-262144"])?,
                "hash" => only(&["sha2-256"])?,
                "max-file-links" => only(&["174"])?,
                "inline-limit" => only(&["32"])?,
                "encoding" | "enc" => only(&["json"])?,
                "wrap-with-directory"
                | "trickle"
                | "inline"
                | "nocopy"
                | "fscache"
                | "recursive"
                | "hidden"
                | "preserve-mode"
                | "preserve-mtime"
                | "dereference-args" => {
                    if boolean()? {
                        return Err(format!("`{key}=true` is not supported here: add one file as is"));
                    }
                }
                _ => return Err(format!("the option `{key}` is not supported here")),
            }
        }
        options.layout = Layout {
            version,
            raw_leaves: raw_leaves.unwrap_or(version == CidVersion::V1),
        };
        Ok(options)
    }
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; `None` for a bad escape.
fn query_unescape(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(index + 1..index + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                index += 2;
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    Some(out)
}

/// The name kubo gives the part's file (boxo's `fileName`: URI-decoded, then
/// `path.Clean("/" + name)` relative to the root), or `None` when it lies inside a
/// directory (`a/b`), which kubo would wrap in one.
fn kubo_name(file_name: Option<&str>) -> Option<String> {
    let raw = file_name.unwrap_or("");
    let decoded = match query_unescape(raw) {
        Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        None => raw.to_owned(),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in decoded.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    (parts.len() <= 1).then(|| parts.concat())
}

/// A string as Go's `encoding/json` writes it (HTML characters and U+2028/9 escaped).
fn go_json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// kubo's answer body: progress lines (as boxo's progress reader emits them: at every
/// chunk's end, and again at the end of the file) when asked, then the file's line
/// unless `silent`.
fn answer_body(name: &str, dag: &FileDag, size: u64, options: &AddOptions) -> String {
    let mut body = String::new();
    if options.progress {
        let shown = go_json_string(name);
        let chunk = CHUNK_SIZE as u64;
        for index in 1..=size / chunk {
            body.push_str(&format!("{{\"Name\":{shown},\"Bytes\":{}}}\n", index * chunk));
        }
        // `Bytes` is omitted when zero (`omitempty`).
        match size {
            0 => body.push_str(&format!("{{\"Name\":{shown}}}\n")),
            size => body.push_str(&format!("{{\"Name\":{shown},\"Bytes\":{size}}}\n")),
        }
    }
    if !options.silent {
        let cid = dag.cid.to_string();
        let name = if name.is_empty() { cid.as_str() } else { name };
        body.push_str(&format!(
            "{{\"Name\":{},\"Hash\":\"{cid}\",\"Size\":\"{}\"}}\n",
            go_json_string(name),
            dag.dag_size
        ));
    }
    body
}

/// The headers go-ipfs-cmds sends with a stream of values, and CORS for browsers (iExec's
/// SDK runs in web pages).
fn kubo_headers(response: &mut Response) {
    let exposed = HeaderValue::from_static("X-Stream-Output, X-Chunked-Output, X-Content-Length");
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-chunked-output", HeaderValue::from_static("1"));
    headers.insert(header::TRAILER, HeaderValue::from_static("X-Stream-Error"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, exposed.clone());
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, exposed);
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
}

/// `OPTIONS /api/v0/add`: a browser's preflight.
pub(crate) async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, X-Requested-With, Range, User-Agent"),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    response
}

/// A multipart error as a refusal: the body broke off, or is no multipart kubo reads.
fn multipart_refusal(state: &StoreState, error: multer::Error) -> Response {
    match error {
        multer::Error::StreamReadFailed(e) => refuse(
            state,
            StatusCode::BAD_REQUEST,
            "UPLOAD_INTERRUPTED",
            format!("the upload broke off: {e}"),
        ),
        e => refuse(
            state,
            StatusCode::BAD_REQUEST,
            "BAD_MULTIPART",
            format!("the body is not a multipart kubo reads: {e}"),
        ),
    }
}

/// `POST /api/v0/add`.
pub(crate) async fn add(State(state): State<Arc<StoreState>>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let (parts, body) = request.into_parts();
    let options = match AddOptions::parse(parts.uri.query().unwrap_or("")) {
        Ok(options) => options,
        Err(message) => {
            return refuse_unread(
                body,
                refuse(&state, StatusCode::BAD_REQUEST, "UNSUPPORTED_OPTION", message),
            );
        }
    };
    let boundary = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|content_type| multer::parse_boundary(content_type).ok());
    let Some(boundary) = boundary else {
        let message = "expected a multipart/form-data body holding one file, as kubo's clients send";
        return refuse_unread(
            body,
            refuse(&state, StatusCode::BAD_REQUEST, "BAD_MULTIPART", message.into()),
        );
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Not read at all: it may be anything long.
    if declared.is_some_and(|length| length > state.ipfs_add_max.saturating_add(MULTIPART_SLACK)) {
        return too_large(&state);
    }
    let key = state.added.client_key(peer);
    let mut slot = match state
        .added
        .start_client(key, state.ipfs_client_uploads, state.ipfs_client_bytes_per_hour)
    {
        Ok(slot) => slot,
        Err(message) => {
            return refuse_unread(
                body,
                refuse(&state, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", message),
            );
        }
    };
    let mut quota = match state.added.reservation(&state).await {
        Ok(quota) => quota,
        Err(e) => return refuse_unread(body, backend_error(e)),
    };
    if !options.only_hash && !quota.grow(OBJECT_CHARGE, state.ipfs_unclaimed_quota) {
        return refuse_unread(body, quota_exceeded(&state));
    }
    match add_file(&state, &options, boundary, body, &mut slot, quota).await {
        Ok(answer) => answer,
        Err(refusal) => refusal,
    }
}

fn too_large(state: &StoreState) -> Response {
    let limit = state.ipfs_add_max;
    refuse(
        state,
        StatusCode::PAYLOAD_TOO_LARGE,
        "TOO_LARGE",
        format!("a file added here is at most {limit} bytes"),
    )
}

fn quota_exceeded(state: &StoreState) -> Response {
    refuse(
        state,
        StatusCode::INSUFFICIENT_STORAGE,
        "IPFS_QUOTA_EXCEEDED",
        "the room for added files that no dataset names yet is full: try again later".into(),
    )
}

/// Reads the one file part, stages it while hashing (within the limits), lands it, and
/// answers as kubo does.
async fn add_file(
    state: &StoreState,
    options: &AddOptions,
    boundary: String,
    body: Body,
    slot: &mut crate::added::ClientSlot<'_>,
    mut quota: crate::added::QuotaReservation<'_>,
) -> Result<Response, Response> {
    let stored = state.stored_bytes().await.map_err(backend_error)?;
    let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
    let field = match multipart.next_field().await {
        Ok(Some(field)) => field,
        Ok(None) => {
            return Err(refuse(
                state,
                StatusCode::BAD_REQUEST,
                "BAD_MULTIPART",
                "the body holds no file".into(),
            ));
        }
        Err(e) => return Err(multipart_refusal(state, e)),
    };
    let not_a_file = field
        .content_type()
        .is_some_and(|mime| mime.type_().as_str() == "multipart" || mime.essence_str() == "application/x-directory");
    let symlink = field
        .content_type()
        .is_some_and(|mime| mime.essence_str() == "application/symlink");
    let name = kubo_name(field.file_name());
    let Some(name) = name.filter(|_| !not_a_file && !symlink) else {
        return Err(refuse(
            state,
            StatusCode::BAD_REQUEST,
            "BAD_MULTIPART",
            "only a single file is added here: no directory, no path inside one, no symlink".into(),
        ));
    };
    let mut reservation = Reservation {
        state,
        owner: None,
        bytes: 0,
    };
    let admit = |size: usize, chunk: usize| {
        let more = chunk as u64;
        if (size as u64).saturating_add(more) > state.ipfs_add_max {
            return Some(too_large(state));
        }
        if !slot.take(more) {
            let budget = state.ipfs_client_bytes_per_hour;
            let message = format!("an address adds at most {budget} bytes an hour: try again later");
            return Some(refuse(state, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", message));
        }
        if options.only_hash {
            return None;
        }
        if !quota.grow(more, state.ipfs_unclaimed_quota) {
            return Some(quota_exceeded(state));
        }
        if reservation.grow(more, stored, None, state.files_ceiling()).is_err() {
            return Some(refuse(
                state,
                StatusCode::INSUFFICIENT_STORAGE,
                "STORE_FULL",
                "the store is full: try again later or another store".into(),
            ));
        }
        None
    };
    let staged = stage_stream(state, field, options.layout, !options.only_hash, admit, |e| {
        multipart_refusal(state, e)
    })
    .await?;
    let after = multipart.next_field().await;
    if !matches!(after, Ok(None)) {
        if let Some((_, writer)) = staged.object {
            let _ = writer.abort().await;
        }
        return Err(match after {
            Err(e) => multipart_refusal(state, e),
            _ => refuse(
                state,
                StatusCode::BAD_REQUEST,
                "BAD_MULTIPART",
                "one file per request: several files or directories are not added here".into(),
            ),
        });
    }
    let size = staged.size as u64;
    if let Some((staging, writer)) = staged.object {
        writer.finish().await.map_err(backend_error)?;
        crate::added::land(state, &staging, &staged.dag.cid, size).await?;
        tracing::info!(cid = %staged.dag.cid, size, "file added");
    }
    // One chunk of a stream: sent chunked, as kubo's emitter sends its values.
    let body = answer_body(&name, &staged.dag, size, options);
    let mut response = Body::from_stream(futures::stream::once(
        async move { Ok::<_, std::convert::Infallible>(body) },
    ))
    .into_response();
    kubo_headers(&mut response);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use confide_protocol::ipfs::file_dag;

    #[test]
    fn options_are_read_as_kubo_reads_them_and_others_refused() {
        let default = AddOptions::parse("stream-channels=true&progress=false").unwrap();
        assert_eq!(default.layout, Layout::kubo(CidVersion::V0));
        assert!(!default.progress && !default.only_hash && !default.silent);
        let v1 = AddOptions::parse("cid-version=1&pin=false&quieter=true").unwrap();
        assert_eq!(v1.layout, Layout::kubo(CidVersion::V1));
        let mixed = AddOptions::parse("cid-version=0&raw-leaves=True&only-hash=1&chunker=size-262144").unwrap();
        assert_eq!(
            mixed.layout,
            Layout {
                version: CidVersion::V0,
                raw_leaves: true
            }
        );
        assert!(mixed.only_hash);
        assert!(AddOptions::parse("wrap-with-directory=false&hash=sha2-256&timeout=10s").is_ok());
        for refused in [
            "wrap-with-directory=true",
            "cid-version=2",
            "chunker=rabin-262144-524288-1048576",
            "hash=blake2b-256",
            "trickle=true",
            "inline=true",
            "pin=maybe",
            "progress=false&progress=true",
            "to-files=/x",
            "mtime=1",
        ] {
            assert!(AddOptions::parse(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn names_are_kubos_and_paths_inside_directories_refused() {
        assert_eq!(kubo_name(Some("")).as_deref(), Some(""));
        assert_eq!(kubo_name(None).as_deref(), Some(""));
        assert_eq!(kubo_name(Some("data.zip")).as_deref(), Some("data.zip"));
        assert_eq!(kubo_name(Some("my%20file+1.txt")).as_deref(), Some("my file 1.txt"));
        assert_eq!(kubo_name(Some("../../etc")).as_deref(), Some("etc"));
        assert_eq!(kubo_name(Some("%zz")).as_deref(), Some("%zz"));
        assert_eq!(kubo_name(Some("dir/file")), None);
        assert_eq!(kubo_name(Some("dir%2Ffile")), None);
    }

    #[test]
    fn answers_are_kubos_lines() {
        let options = AddOptions::parse("").unwrap();
        let dag = file_dag(Layout::kubo(CidVersion::V0), b"hello world\n");
        assert_eq!(
            answer_body("", &dag, 12, &options),
            "{\"Name\":\"QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o\",\"Hash\":\"QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o\",\"Size\":\"20\"}\n"
        );
        let progress = AddOptions::parse("progress=true").unwrap();
        let big = file_dag(Layout::kubo(CidVersion::V0), &vec![0u8; CHUNK_SIZE + 1]);
        let body = answer_body("a<b>", &big, CHUNK_SIZE as u64 + 1, &progress);
        assert_eq!(
            body.lines().collect::<Vec<_>>(),
            [
                "{\"Name\":\"a\\u003cb\\u003e\",\"Bytes\":262144}",
                "{\"Name\":\"a\\u003cb\\u003e\",\"Bytes\":262145}",
                "{\"Name\":\"a\\u003cb\\u003e\",\"Hash\":\"QmbVuw4C4vcmVKqxoWtgDVobvcHrSn51qsmQmyxjk4sB2Q\",\"Size\":\"262267\"}",
            ]
        );
        let silent = AddOptions::parse("silent=true").unwrap();
        assert_eq!(answer_body("", &dag, 12, &silent), "");
    }
}
