//! [`S3Blobs`]: the object port on one S3 bucket.
//!
//! - [`put`](BlobStore::put) streams the body without holding it whole: it buffers up to [`PART_BYTES`] and, if the
//!   body ended within that, writes it with one PutObject; otherwise it sends a multipart upload of parts of
//!   [`PART_BYTES`] each, aborted if anything fails, so an object appears whole or not at all.
//! - Every object is written tagged `postora-attached=false` ([`ATTACHED_TAG`]); the bucket's lifecycle rule
//!   ([`LIFECYCLE_DAYS`]) removes an object still tagged so after a day, and one more rule aborts multipart uploads
//!   left unfinished for a day. [`mark_attached`](BlobStore::mark_attached) retags an object once a post uses it.
//!   Whether an item is attached is recorded on its record; the tag is the bucket's safety net under the sweep.
//! - Links are presigned: a GET with `response-content-type` and `response-cache-control: private`, and UploadPart
//!   for a browser's PUT. A presigned URL is a credential: it never goes into a log line or a `Debug` print.
//!
//! S3's refusals of a completion (`InvalidPart`, `InvalidPartOrder`, `EntityTooSmall`) are
//! [`BlobError::InvalidParts`]; `NoSuchKey` and `NoSuchUpload` are [`BlobError::NotFound`]. Error messages name the
//! operation and S3's error code, never a URL.

use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as SdkStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart as SdkCompletedPart, Delete, ObjectIdentifier, Tag,
    Tagging,
};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::domain::WorkspaceId;
use crate::ports::{
    BlobError, BlobStore, ByteStream, CompletedPart, ObjectKey, StoredPart, MAX_LINK_TTL, MAX_PARTS,
};

/// The tag every object is written with, and its values: `false` until a post uses the object.
pub const ATTACHED_TAG: &str = "postora-attached";
pub const UNATTACHED: &str = "false";
pub const ATTACHED: &str = "true";
/// After how many days the bucket's lifecycle rules remove an object still tagged unattached, and abort a multipart
/// upload left unfinished (template.yaml and `postora aws bootstrap` set both).
pub const LIFECYCLE_DAYS: i32 = 1;
/// The id of the lifecycle rule that aborts multipart uploads left unfinished.
pub const ABORT_UPLOADS_RULE: &str = "abort-unfinished-uploads";
/// The id of the lifecycle rule that removes objects no post ever used.
pub const EXPIRE_UNATTACHED_RULE: &str = "expire-unattached-objects";

/// The size of the parts [`put`](BlobStore::put) sends a large body in, and the most it buffers before deciding.
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// The most keys one DeleteObjects call may carry.
const DELETE_BATCH: usize = 1000;

/// Objects in one S3 bucket.
#[derive(Clone, Debug)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

/// The query string `x-amz-tagging` takes: every object starts unattached.
fn unattached_tagging() -> String {
    format!("{ATTACHED_TAG}={UNATTACHED}")
}

/// Maps an SDK failure to a blob error naming the operation and S3's error code, never a URL or a message.
fn failure<E: ProvideErrorMetadata + std::error::Error + 'static>(
    op: &str,
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> BlobError {
    match err.code() {
        Some("NoSuchKey" | "NoSuchUpload" | "NotFound") => BlobError::NotFound,
        Some(code @ ("InvalidPart" | "InvalidPartOrder" | "EntityTooSmall")) => {
            BlobError::InvalidParts(format!("{op}: {code}"))
        }
        Some(code) => BlobError::Unavailable(format!("{op}: {code}")),
        None if err
            .raw_response()
            .is_some_and(|r| r.status().as_u16() == 404) =>
        {
            BlobError::NotFound
        }
        None => BlobError::Unavailable(format!("{op}: {}", DisplayErrorContext(err))),
    }
}

fn build_error(e: impl std::fmt::Display) -> BlobError {
    BlobError::Unavailable(format!("a request could not be built: {e}"))
}

fn presigning(ttl: Duration) -> Result<PresigningConfig, BlobError> {
    PresigningConfig::expires_in(ttl.min(MAX_LINK_TTL)).map_err(build_error)
}

fn presigned_url(uri: &str) -> Result<url::Url, BlobError> {
    url::Url::parse(uri).map_err(|_| BlobError::Unavailable("a presigned URL was not a URL".into()))
}

/// S3's part numbers are 32-bit signed; ours are checked against [`MAX_PARTS`] first.
fn part_number(n: u32) -> Result<i32, BlobError> {
    if !(1..=MAX_PARTS).contains(&n) {
        return Err(BlobError::InvalidParts(format!(
            "part numbers run from 1 to {MAX_PARTS}"
        )));
    }
    i32::try_from(n).map_err(|_| BlobError::InvalidParts("a part number is out of range".into()))
}

/// A body read a chunk at a time, counting against the most it may hold.
struct Limited {
    body: ByteStream,
    read: u64,
    limit: u64,
}

impl Limited {
    async fn next(&mut self) -> Result<Option<Bytes>, BlobError> {
        match self.body.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(BlobError::Body(e.to_string())),
            Some(Ok(chunk)) => {
                self.read = self.read.saturating_add(chunk.len() as u64);
                if self.read > self.limit {
                    return Err(BlobError::TooLarge { limit: self.limit });
                }
                Ok(Some(chunk))
            }
        }
    }

    /// Fills `buf` up to `size` bytes (it may go past by part of a chunk); false once the body has ended.
    async fn fill(&mut self, buf: &mut BytesMut, size: usize) -> Result<bool, BlobError> {
        while buf.len() < size {
            match self.next().await? {
                Some(chunk) => buf.extend_from_slice(&chunk),
                None => return Ok(false),
            }
        }
        Ok(true)
    }
}

impl S3Blobs {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// The client configuration for the bucket, from the shared SDK configuration: path-style addressing when an
    /// endpoint is set (an emulator), and request checksums only where S3 requires them, so that a presigned part
    /// URL carries no checksum of an empty body.
    pub fn client_config(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            )
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn upload_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        number: u32,
        bytes: Bytes,
    ) -> Result<SdkCompletedPart, BlobError> {
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .part_number(part_number(number)?)
            .content_length(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
            .body(SdkStream::from(bytes))
            .send()
            .await
            .map_err(|e| failure("UploadPart", &e))?;
        Ok(SdkCompletedPart::builder()
            .part_number(part_number(number)?)
            .set_e_tag(out.e_tag)
            .build())
    }

    /// CompleteMultipartUpload: joins the named parts into the object.
    async fn join_parts(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: Vec<SdkCompletedPart>,
    ) -> Result<(), BlobError> {
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| failure("CompleteMultipartUpload", &e))?;
        Ok(())
    }

    /// Sends the rest of a large body as a multipart upload, `first` (at least a part's worth) first.
    async fn put_in_parts(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        mut buf: BytesMut,
        body: &mut Limited,
    ) -> Result<u64, BlobError> {
        let mut parts = Vec::new();
        let mut more = true;
        loop {
            while buf.len() >= PART_BYTES || (!more && !buf.is_empty()) {
                let take = buf.len().min(PART_BYTES);
                let part = buf.split_to(take).freeze();
                let number = u32::try_from(parts.len() + 1).unwrap_or(u32::MAX);
                parts.push(self.upload_part(key, upload_id, number, part).await?);
            }
            if !more {
                break;
            }
            more = body.fill(&mut buf, PART_BYTES).await?;
        }
        self.join_parts(key, upload_id, parts).await?;
        Ok(body.read)
    }

    /// Aborts every unfinished multipart upload under `prefix`.
    async fn abort_uploads_under(&self, prefix: &str) -> Result<(), BlobError> {
        let mut key_marker: Option<String> = None;
        let mut id_marker: Option<String> = None;
        loop {
            let out = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| failure("ListMultipartUploads", &e))?;
            for upload in out.uploads() {
                if let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) {
                    self.abort_upload(&ObjectKey::from_trusted(key), id).await?;
                }
            }
            if out.is_truncated() != Some(true) {
                return Ok(());
            }
            key_marker = out.next_key_marker().map(str::to_owned);
            id_marker = out.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && id_marker.is_none() {
                return Ok(());
            }
        }
    }

    /// Deletes every object under `prefix`, a page (at most a thousand) at a time.
    async fn delete_under(&self, prefix: &str) -> Result<(), BlobError> {
        loop {
            // Always the first page: what was listed is deleted before listing again.
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .max_keys(i32::try_from(DELETE_BATCH).unwrap_or(1000))
                .send()
                .await
                .map_err(|e| failure("ListObjectsV2", &e))?;
            let keys = out
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(build_error)?;
            if keys.is_empty() {
                return Ok(());
            }
            let deleted = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(keys))
                        .quiet(true)
                        .build()
                        .map_err(build_error)?,
                )
                .send()
                .await
                .map_err(|e| failure("DeleteObjects", &e))?;
            if let Some(e) = deleted.errors().first() {
                return Err(BlobError::Unavailable(format!(
                    "DeleteObjects: {} objects not deleted ({})",
                    deleted.errors().len(),
                    e.code().unwrap_or("no code")
                )));
            }
            if out.is_truncated() != Some(true) {
                return Ok(());
            }
        }
    }
}

/// An object's bytes from S3, as the port's stream.
fn sdk_stream(body: SdkStream) -> ByteStream {
    Box::pin(futures_util::stream::unfold(body, |mut body| async move {
        body.next()
            .await
            .map(|chunk| (chunk.map_err(std::io::Error::other), body))
    }))
}

fn empty_stream() -> ByteStream {
    Box::pin(futures_util::stream::empty())
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        body: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError> {
        let mut body = Limited {
            body,
            read: 0,
            limit: max_bytes,
        };
        let mut buf = BytesMut::new();
        // One part's worth and a byte more tells a small body from a large one.
        let more = body.fill(&mut buf, PART_BYTES + 1).await?;
        if !more {
            let len = buf.len();
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key.as_str())
                .content_type(content_type)
                .content_length(i64::try_from(len).unwrap_or(i64::MAX))
                .tagging(unattached_tagging())
                .body(SdkStream::from(buf.freeze()))
                .send()
                .await
                .map_err(|e| failure("PutObject", &e))?;
            return Ok(len as u64);
        }
        let upload_id = self.start_upload(key, content_type).await?;
        match self.put_in_parts(key, &upload_id, buf, &mut body).await {
            Ok(n) => Ok(n),
            Err(e) => {
                if let Err(abort) = self.abort_upload(key, &upload_id).await {
                    tracing::warn!(error = %abort, "an upload that failed could not be aborted; the bucket's lifecycle rule will");
                }
                Err(e)
            }
        }
    }

    async fn size(&self, key: &ObjectKey) -> Result<Option<u64>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
            )),
            Err(e) => match failure("HeadObject", &e) {
                BlobError::NotFound => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn read(&self, key: &ObjectKey, range: Range<u64>) -> Result<ByteStream, BlobError> {
        if range.start >= range.end {
            return match self.size(key).await? {
                Some(_) => Ok(empty_stream()),
                None => Err(BlobError::NotFound),
            };
        }
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await;
        match result {
            Ok(out) => Ok(sdk_stream(out.body)),
            // A range that starts past the end holds nothing, of an object that is there.
            Err(e) if e.code() == Some("InvalidRange") => match self.size(key).await? {
                Some(_) => Ok(empty_stream()),
                None => Err(BlobError::NotFound),
            },
            Err(e) => Err(failure("GetObject", &e)),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| failure("DeleteObject", &e))?;
        Ok(())
    }

    async fn delete_workspace(&self, ws: &WorkspaceId) -> Result<(), BlobError> {
        let prefix = ObjectKey::workspace_prefix(ws);
        self.abort_uploads_under(&prefix).await?;
        self.delete_under(&prefix).await
    }

    async fn fetch_link(
        &self,
        key: &ObjectKey,
        content_type: &str,
        ttl: Duration,
    ) -> Result<url::Url, BlobError> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .response_content_type(content_type)
            .response_cache_control("private")
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| failure("GetObject (presigning)", &e))?;
        presigned_url(request.uri())
    }

    async fn start_upload(&self, key: &ObjectKey, content_type: &str) -> Result<String, BlobError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .tagging(unattached_tagging())
            .send()
            .await
            .map_err(|e| failure("CreateMultipartUpload", &e))?;
        out.upload_id.ok_or_else(|| {
            BlobError::Unavailable("CreateMultipartUpload: no upload id returned".into())
        })
    }

    async fn part_link(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        number: u32,
        ttl: Duration,
    ) -> Result<url::Url, BlobError> {
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .part_number(part_number(number)?)
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| failure("UploadPart (presigning)", &e))?;
        presigned_url(request.uri())
    }

    async fn list_parts(
        &self,
        key: &ObjectKey,
        upload_id: &str,
    ) -> Result<Vec<StoredPart>, BlobError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(|e| failure("ListParts", &e))?;
            for p in out.parts() {
                let (Some(number), Some(etag)) = (p.part_number(), p.e_tag()) else {
                    continue;
                };
                parts.push(StoredPart {
                    number: u32::try_from(number).unwrap_or(0),
                    bytes: p.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    etag: etag.to_owned(),
                });
            }
            marker = out.next_part_number_marker().map(str::to_owned);
            if out.is_truncated() != Some(true) || marker.is_none() {
                break;
            }
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    async fn complete_upload(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<u64, BlobError> {
        if parts.is_empty() {
            return Err(BlobError::InvalidParts("no part was named".into()));
        }
        // S3 refuses these too (InvalidPartOrder); saying so here saves the request.
        if parts.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(BlobError::InvalidParts(
                "the parts must be named in ascending order, each once".into(),
            ));
        }
        let named = parts
            .iter()
            .map(|p| {
                Ok(SdkCompletedPart::builder()
                    .part_number(part_number(p.number)?)
                    .e_tag(&p.etag)
                    .build())
            })
            .collect::<Result<Vec<_>, BlobError>>()?;
        self.join_parts(key, upload_id, named).await?;
        self.size(key).await?.ok_or_else(|| {
            BlobError::Unavailable("CompleteMultipartUpload: the object is not there".into())
        })
    }

    async fn abort_upload(&self, key: &ObjectKey, upload_id: &str) -> Result<(), BlobError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match failure("AbortMultipartUpload", &e) {
                BlobError::NotFound => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn mark_attached(&self, key: &ObjectKey) -> Result<(), BlobError> {
        let tag = Tag::builder()
            .key(ATTACHED_TAG)
            .value(ATTACHED)
            .build()
            .map_err(build_error)?;
        self.client
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key.as_str())
            .tagging(
                Tagging::builder()
                    .tag_set(tag)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(|e| failure("PutObjectTagging", &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::head_object::HeadObjectError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(code: &str, status: u16) -> SdkError<HeadObjectError, Response> {
        let err = HeadObjectError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("https://bucket/key?X-Amz-Signature=secret")
                .build(),
        );
        SdkError::service_error(
            err,
            Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn s3s_refusals_map_to_the_ports_errors_without_a_url() {
        assert!(matches!(
            failure(
                "CompleteMultipartUpload",
                &service_error("InvalidPart", 400)
            ),
            BlobError::InvalidParts(_)
        ));
        assert!(matches!(
            failure(
                "CompleteMultipartUpload",
                &service_error("InvalidPartOrder", 400)
            ),
            BlobError::InvalidParts(_)
        ));
        assert!(matches!(
            failure(
                "CompleteMultipartUpload",
                &service_error("EntityTooSmall", 400)
            ),
            BlobError::InvalidParts(_)
        ));
        assert!(matches!(
            failure("ListParts", &service_error("NoSuchUpload", 404)),
            BlobError::NotFound
        ));
        assert!(matches!(
            failure("GetObject", &service_error("NoSuchKey", 404)),
            BlobError::NotFound
        ));
        let other = failure("PutObject", &service_error("SlowDown", 503)).to_string();
        assert!(other.contains("SlowDown"), "{other}");
        assert!(!other.contains("Signature"), "{other}");
    }
}
