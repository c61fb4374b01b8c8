//! The S3-compatible document store against a real S3 implementation on loopback (moto's
//! server, which the test command installs): PUT and GET, keys that need encoding, a missing
//! key, creating a bucket twice. moto accepts any signature, so SigV4 itself is not proven here.

use std::{
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    time::Duration,
};

use secrecy::SecretString;
use svc_scheduling::documents::{DocumentStore, S3Bucket};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn s3_server() -> (Server, String) {
    let port = svc_kit::testing::free_port();
    let program = std::env::var("MEDMESH_TEST_S3_SERVER").unwrap_or_else(|_| "moto_server".into());
    let child = Command::new(&program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{program} (pip install 'moto[server]'; scripts/test.sh does) could not start: {e}"
            )
        });
    let server = Server(child);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..150 {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return (server, format!("http://{addr}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the S3 server did not start on {addr}");
}

#[tokio::test]
async fn documents_round_trip_through_an_s3_compatible_store() {
    let (_server, endpoint) = s3_server();
    let bucket = S3Bucket::new(
        &endpoint,
        "medmesh-documents",
        "us-east-1",
        "test-key",
        SecretString::from("test-secret".to_string()),
    );
    bucket.ensure_bucket().await.unwrap();
    bucket
        .ensure_bucket()
        .await
        .expect("an existing bucket is fine");
    let store = DocumentStore::S3(bucket);
    let pdf = b"%PDF-1.4\nnot really\n".to_vec();
    store
        .put(
            "appointments/a 1/confirmation-v2.pdf",
            pdf.clone(),
            "application/pdf",
        )
        .await
        .unwrap();
    let back = store
        .get("appointments/a 1/confirmation-v2.pdf")
        .await
        .unwrap();
    assert_eq!(back, Some(pdf));
    assert_eq!(
        store
            .get("appointments/none/confirmation-v1.pdf")
            .await
            .unwrap(),
        None
    );
}
