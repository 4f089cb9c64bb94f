//! The content store on S3 as several replicas behind one bucket (moto's S3 server, see
//! `confide_devstack::s3`): each `confide store serve` a process of its own, as behind a
//! load balancer. What one stores the other serves, whole, by name and by CID; uploads
//! spread over both land once each; a replica killed in the middle of an upload leaves
//! nothing half-written anywhere.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use confide_chain::{B256, PrivateKeySigner};
use confide_protocol::messages::sign_personal;
use confide_testkit::s3::TempS3;

struct Replica {
    child: Child,
    url: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn replica(s3: &TempS3) -> Replica {
    let port = confide_devstack::anvil::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_confide"))
        .args(["store", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--store", &format!("s3://{}/content", s3.bucket)])
        .envs(s3.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Owned at once: a replica that does not start is still killed and waited for.
    let replica = Replica {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..300 {
        let health = reqwest::get(format!("{}/health", replica.url)).await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return replica;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the store replica on {} did not start", replica.url);
}

fn sha256(bytes: &[u8]) -> B256 {
    confide_crypto::dataset::checksum(bytes).unwrap()
}

use confide_testkit::bench::pseudo_random as content;

/// The owner's signed upload of `body` (whose sha256 is `hash`) as `name` to `store`.
fn upload(
    store: &str,
    owner: &PrivateKeySigner,
    name: &str,
    hash: B256,
    body: reqwest::Body,
) -> reqwest::RequestBuilder {
    let me = owner.address();
    let signature = sign_personal(owner, confide_protocol::store::upload_challenge(me, name, hash)).unwrap();
    reqwest::Client::new()
        .put(format!("{store}/files/{me}/{name}"))
        .header(
            "Authorization",
            format!("0x{}", confide_chain::hex::encode(signature.as_bytes())),
        )
        .header(confide_store::CONTENT_SHA256, hash.to_string())
        .body(body)
}

async fn get(url: String) -> (u16, Vec<u8>) {
    let answer = reqwest::get(url).await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_replicas_on_one_bucket_serve_each_others_uploads_whole_and_never_half() {
    let s3 = TempS3::start("confide");
    let a = replica(&s3).await;
    let b = replica(&s3).await;
    let owner = PrivateKeySigner::random();
    let me = owner.address();

    // A large file, streamed to one replica in 1 MiB chunks, is served whole by the other,
    // by name and by its CID.
    let big = content(48 << 20, 1);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big.chunks(1 << 20).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let answer = upload(&a.url, &owner, "big.bin", sha256(&big), body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 201);
    let stored: serde_json::Value = answer.json().await.unwrap();
    let cid = confide_protocol::ipfs::file_cid(confide_protocol::ipfs::CidVersion::V1, &big);
    assert_eq!(stored["cid"], cid.to_string());
    let (status, served) = get(format!("{}/files/{me}/big.bin", b.url)).await;
    assert_eq!(status, 200);
    assert!(served == big, "the other replica serves the bytes stored, whole");
    let (status, served) = get(format!("{}/ipfs/{cid}", b.url)).await;
    assert_eq!(status, 200);
    assert!(served == big, "and under their CID");

    // Forty uploads spread over both at once: each lands once and both serve it.
    let mut uploads = Vec::new();
    for index in 0..40u64 {
        let store = if index % 2 == 0 { a.url.clone() } else { b.url.clone() };
        let owner = owner.clone();
        uploads.push(tokio::spawn(async move {
            let bytes = content(64 << 10, 100 + index);
            let name = format!("file-{index}");
            let answer = upload(&store, &owner, &name, sha256(&bytes), bytes.clone().into())
                .send()
                .await
                .unwrap();
            (name, bytes, answer.status().as_u16())
        }));
    }
    for pending in uploads {
        let (name, bytes, status) = pending.await.unwrap();
        assert_eq!(status, 201, "{name}");
        for store in [&a.url, &b.url] {
            let (status, served) = get(format!("{store}/files/{me}/{name}")).await;
            assert_eq!((status, served == bytes), (200, true), "{name} from {store}");
        }
    }

    // A replica killed in the middle of replacing a file: the file stays the old one
    // everywhere, never a part of the new one.
    let old = content(1 << 20, 7);
    let answer = upload(&b.url, &owner, "doc", sha256(&old), old.clone().into())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 201);
    let new = content(32 << 20, 8);
    let (sent_half, half_sent) = tokio::sync::oneshot::channel::<()>();
    let halves: Vec<Vec<u8>> = new.chunks(16 << 20).map(<[u8]>::to_vec).collect();
    // The first half goes at once; before the second, the test is told, and the replica
    // is killed while the body waits.
    let slow = futures::stream::unfold(
        (halves.into_iter(), Some(sent_half)),
        |(mut rest, mut signal)| async move {
            let chunk = rest.next()?;
            if rest.len() == 0 {
                if let Some(signal) = signal.take() {
                    let _ = signal.send(());
                }
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Some((Ok::<_, std::io::Error>(chunk), (rest, signal)))
        },
    );
    let mut a = a;
    let request = upload(&a.url, &owner, "doc", sha256(&new), reqwest::Body::wrap_stream(slow));
    let in_flight = tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
    half_sent.await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    assert!(
        !matches!(in_flight.await.unwrap(), Ok(201)),
        "the killed replica acknowledged nothing"
    );
    let (status, served) = get(format!("{}/files/{me}/doc", b.url)).await;
    assert_eq!(status, 200);
    assert!(served == old, "the file is still the old one, whole");
    let old_cid = confide_protocol::ipfs::file_cid(confide_protocol::ipfs::CidVersion::V1, &old);
    let (status, served) = get(format!("{}/ipfs/{old_cid}", b.url)).await;
    assert_eq!((status, served == old), (200, true));
}
