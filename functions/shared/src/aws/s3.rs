//! S3 adapter: the run's working files (selected stacks for the Distributed Map's
//! ItemReader, the full discovery, the full summary) and the Map's ResultWriter output.
//! Large lists live here so the state machine only carries pointers (256 KiB limit).

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use crate::ports::{AwsError, LockStore, RunStore, WaitBoard};

#[derive(Clone)]
pub struct S3RunStore {
    client: Client,
    bucket: String,
}

impl S3RunStore {
    pub fn new(config: &aws_config::SdkConfig, bucket: String) -> Self {
        // A local AWS is reached by address or host name (`http://172.17.0.1:5055` from a
        // container): virtual-hosted addressing would put the bucket in that name.
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(super::custom_endpoint())
            .build();
        Self {
            client: Client::from_conf(s3),
            bucket,
        }
    }
}

fn err<E: ProvideErrorMetadata>(operation: &'static str, key: &str, e: &E) -> AwsError {
    AwsError {
        operation,
        code: e.code().map(str::to_string),
        message: format!("{key}: {}", e.message().unwrap_or("request failed")),
    }
}

impl RunStore for S3RunStore {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), AwsError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| err("PutObject", key, &e))?;
        Ok(())
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, AwsError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| err("GetObject", key, &e))?;
        let bytes = out.body.collect().await.map_err(|e| AwsError {
            operation: "GetObject",
            code: None,
            message: format!("{key}: {e}"),
        })?;
        Ok(bytes.into_bytes().to_vec())
    }

    /// HeadObject: a marker is judged by its presence and never downloaded (an object of any
    /// size, written by whoever may, would otherwise be read into memory). A missing key
    /// answers 404 `NotFound` to a caller allowed `s3:ListBucket` on the bucket, 403 to any
    /// other ("HeadObject", Amazon S3 API reference), so a denied read is never "absent".
    async fn exists(&self, key: &str) -> Result<bool, AwsError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(err("HeadObject", key, &e)),
        }
    }
}

/// The lock documents: S3 conditional writes ("Add preconditions to S3 operations with
/// conditional requests", Amazon S3 user guide) give compare-and-swap: `If-None-Match: *`
/// creates only when absent, `If-Match: <ETag>` replaces or deletes only an unchanged
/// object; a failed condition is `412 PreconditionFailed` (a concurrent conditional write
/// to the same key can also answer `409 ConditionalRequestConflict`: also "changed, read
/// again"). A lock that vanished under an `If-Match` is `404 NoSuchKey`: changed as well.
impl LockStore for S3RunStore {
    async fn read(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, AwsError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.code() == Some("NoSuchKey") => return Ok(None),
            Err(e) => return Err(err("GetObject", key, &e)),
        };
        let tag = out.e_tag().unwrap_or_default().to_string();
        let bytes = out.body.collect().await.map_err(|e| AwsError {
            operation: "GetObject",
            code: None,
            message: format!("{key}: {e}"),
        })?;
        Ok(Some((bytes.into_bytes().to_vec(), tag)))
    }

    async fn create(&self, key: &str, body: Vec<u8>) -> Result<bool, AwsError> {
        self.put_if(key, body, |put| put.if_none_match("*")).await
    }

    async fn replace(&self, key: &str, body: Vec<u8>, tag: &str) -> Result<bool, AwsError> {
        self.put_if(key, body, |put| put.if_match(tag)).await
    }

    async fn remove(&self, key: &str, tag: &str) -> Result<bool, AwsError> {
        let sent = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .if_match(tag)
            .send()
            .await;
        condition_held("DeleteObject", key, sent)
    }
}

/// The waiter's board: plain objects under `waits/` (a registration is written once and
/// deleted once; an end record is overwritten by the next end).
impl WaitBoard for S3RunStore {
    async fn keep(&self, key: &str, body: Vec<u8>) -> Result<(), AwsError> {
        RunStore::put(self, key, body).await
    }

    async fn find(&self, key: &str) -> Result<Option<Vec<u8>>, AwsError> {
        Ok(LockStore::read(self, key).await?.map(|(body, _)| body))
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, AwsError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut out = vec![];
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err("ListObjectsV2", prefix, &e))?;
            out.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        Ok(out)
    }

    async fn forget(&self, key: &str) -> Result<(), AwsError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| err("DeleteObject", key, &e))?;
        Ok(())
    }
}

impl S3RunStore {
    /// A PutObject with a precondition (`If-None-Match` or `If-Match`).
    async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        precondition: impl FnOnce(PutObjectFluentBuilder) -> PutObjectFluentBuilder,
    ) -> Result<bool, AwsError> {
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        condition_held("PutObject", key, precondition(put).send().await)
    }
}

fn condition_held<T, E: ProvideErrorMetadata>(
    operation: &'static str,
    key: &str,
    sent: Result<T, E>,
) -> Result<bool, AwsError> {
    match sent {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.code(),
                Some("PreconditionFailed" | "ConditionalRequestConflict" | "NoSuchKey")
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(err(operation, key, &e)),
    }
}
