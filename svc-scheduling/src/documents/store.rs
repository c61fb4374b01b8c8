//! Where generated documents are kept: a directory (dev) or an S3-compatible bucket
//! (production: AWS S3, MinIO, Ceph, ...). Both behind one small interface, so the service
//! does not care which.

use std::path::PathBuf;

use chrono::Utc;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("document store I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("object store: {0}")]
    Remote(String),
}

/// An S3-compatible bucket, addressed path-style (`<endpoint>/<bucket>/<key>`), signed with
/// AWS Signature Version 4.
#[derive(Clone)]
pub struct S3Bucket {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for S3Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Bucket")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Where documents go.
#[derive(Debug, Clone)]
pub enum DocumentStore {
    Directory(PathBuf),
    S3(S3Bucket),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Percent-encodes a key's path segments as SigV4 wants (unreserved characters kept).
fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl S3Bucket {
    pub fn new(
        endpoint: &str,
        bucket: &str,
        region: &str,
        access_key_id: &str,
        secret_access_key: SecretString,
    ) -> S3Bucket {
        S3Bucket {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            bucket: bucket.to_string(),
            region: region.to_string(),
            access_key_id: access_key_id.to_string(),
            secret_access_key,
            // HTTPS with the platform's authority beside the web's roots (`[tls]`).
            http: svc_kit::tls::http_client()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .expect("an HTTP client builds"),
        }
    }

    /// A signed request for `method` on `key` (or the bucket itself when `key` is empty).
    fn signed(
        &self,
        method: reqwest::Method,
        key: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<reqwest::RequestBuilder, StoreError> {
        let url =
            reqwest::Url::parse(&self.endpoint).map_err(|e| StoreError::Remote(e.to_string()))?;
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let path = if key.is_empty() {
            format!("/{}", self.bucket)
        } else {
            format!("/{}/{}", self.bucket, key)
        };
        let canonical_path = encode_path(&path);
        let now = Utc::now();
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let day = now.format("%Y%m%d").to_string();
        let payload_hash = hex(&Sha256::digest(&body));
        let signed_headers = "host;x-amz-content-sha256;x-amz-date";
        let canonical = format!(
            "{method}\n{canonical_path}\n\nhost:{host}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n\n{signed_headers}\n{payload_hash}"
        );
        let scope = format!("{day}/{}/s3/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let secret = format!("AWS4{}", self.secret_access_key.expose_secret());
        let key_date = hmac(secret.as_bytes(), &day);
        let key_region = hmac(&key_date, &self.region);
        let key_service = hmac(&key_region, "s3");
        let key_signing = hmac(&key_service, "aws4_request");
        let signature = hex(&hmac(&key_signing, &to_sign));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.access_key_id
        );
        let mut request = self
            .http
            .request(method, format!("{}{canonical_path}", self.endpoint))
            .header("x-amz-date", amz_date)
            .header("x-amz-content-sha256", payload_hash)
            .header("authorization", authorization)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        Ok(request)
    }

    /// Creates the bucket if it is missing (for tests and first start-up).
    pub async fn ensure_bucket(&self) -> Result<(), StoreError> {
        let response = self
            .signed(reqwest::Method::PUT, "", Vec::new(), None)?
            .send()
            .await
            .map_err(|e| StoreError::Remote(e.to_string()))?;
        match response.status().as_u16() {
            200 | 409 => Ok(()),
            status => Err(StoreError::Remote(format!(
                "creating the bucket answered {status}"
            ))),
        }
    }
}

/// Creates `dir` and the directories above it up to `root` (itself included), each only its
/// owner may enter (0700).
async fn private_dirs(root: &std::path::Path, dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir).await?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A directory that existed before (made by an older version) is closed too.
        for ancestor in dir.ancestors() {
            if !ancestor.starts_with(root) {
                break;
            }
            let mode = tokio::fs::metadata(ancestor).await?.permissions().mode() & 0o777;
            if mode != 0o700 {
                tokio::fs::set_permissions(ancestor, std::fs::Permissions::from_mode(0o700))
                    .await?;
            }
        }
    }
    Ok(())
}

impl DocumentStore {
    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StoreError> {
        match self {
            DocumentStore::Directory(root) => {
                let path = root.join(key);
                if let Some(parent) = path.parent() {
                    private_dirs(root, parent).await?;
                }
                // Write then rename: a reader never sees half a document, and two writers of
                // the same key (a render ahead and a download) never share a partial file.
                // Documents name patients: only the service's own user may read them (0600).
                let partial =
                    path.with_extension(format!("{}.partial", uuid::Uuid::new_v4().simple()));
                let mut options = tokio::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                options.mode(0o600);
                let mut file = options.open(&partial).await?;
                tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await?;
                file.sync_all().await?;
                drop(file);
                tokio::fs::rename(&partial, &path).await?;
                Ok(())
            }
            DocumentStore::S3(bucket) => {
                let response = bucket
                    .signed(reqwest::Method::PUT, key, bytes, Some(content_type))?
                    .send()
                    .await
                    .map_err(|e| StoreError::Remote(e.to_string()))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(StoreError::Remote(format!(
                        "PUT answered {}",
                        response.status()
                    )))
                }
            }
        }
    }

    /// The document, or `None` if there is none under `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            DocumentStore::Directory(root) => match tokio::fs::read(root.join(key)).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(error) => Err(error.into()),
            },
            DocumentStore::S3(bucket) => {
                let response = bucket
                    .signed(reqwest::Method::GET, key, Vec::new(), None)?
                    .send()
                    .await
                    .map_err(|e| StoreError::Remote(e.to_string()))?;
                match response.status().as_u16() {
                    200 => Ok(Some(
                        response
                            .bytes()
                            .await
                            .map_err(|e| StoreError::Remote(e.to_string()))?
                            .to_vec(),
                    )),
                    404 => Ok(None),
                    status => Err(StoreError::Remote(format!("GET answered {status}"))),
                }
            }
        }
    }

    /// Removes the document under `key`; whether there was one. Removing what is not there is
    /// not an error, so an erasure that runs again finishes.
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        match self {
            DocumentStore::Directory(root) => match tokio::fs::remove_file(root.join(key)).await {
                Ok(()) => Ok(true),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(error) => Err(error.into()),
            },
            DocumentStore::S3(bucket) => {
                // S3 answers a DELETE alike whether the key was there; HEAD tells.
                let head = bucket
                    .signed(reqwest::Method::HEAD, key, Vec::new(), None)?
                    .send()
                    .await
                    .map_err(|e| StoreError::Remote(e.to_string()))?;
                let existed = match head.status().as_u16() {
                    200 => true,
                    404 => false,
                    status => return Err(StoreError::Remote(format!("HEAD answered {status}"))),
                };
                if existed {
                    let response = bucket
                        .signed(reqwest::Method::DELETE, key, Vec::new(), None)?
                        .send()
                        .await
                        .map_err(|e| StoreError::Remote(e.to_string()))?;
                    if !response.status().is_success() {
                        return Err(StoreError::Remote(format!(
                            "DELETE answered {}",
                            response.status()
                        )));
                    }
                }
                Ok(existed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_writers_of_one_key_both_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let store = DocumentStore::Directory(dir.path().to_path_buf());
        let writes = (0..16).map(|i| {
            let store = store.clone();
            async move { store.put("a/b.pdf", vec![i; 1000], "application/pdf").await }
        });
        for result in futures::future::join_all(writes).await {
            result.unwrap();
        }
        assert_eq!(store.get("a/b.pdf").await.unwrap().unwrap().len(), 1000);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn documents_and_their_directories_are_the_services_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("documents");
        // An older version's world-readable directory is closed on the next write.
        std::fs::create_dir_all(root.join("appointments")).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let store = DocumentStore::Directory(root.clone());
        store
            .put(
                "appointments/a1/confirmation.pdf",
                vec![1; 10],
                "application/pdf",
            )
            .await
            .unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root.join("appointments/a1/confirmation.pdf")), 0o600);
        assert_eq!(mode(&root.join("appointments/a1")), 0o700);
        assert_eq!(mode(&root.join("appointments")), 0o700);
        assert_eq!(mode(&root), 0o700);
        assert_eq!(
            store
                .get("appointments/a1/confirmation.pdf")
                .await
                .unwrap()
                .unwrap()
                .len(),
            10
        );
    }

    #[test]
    fn keys_are_encoded_segment_by_segment() {
        assert_eq!(
            encode_path("/b/appointments/a b/c.pdf"),
            "/b/appointments/a%20b/c.pdf"
        );
    }
}
