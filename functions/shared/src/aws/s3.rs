//! S3 adapter: the run's working files (selected stacks for the Distributed Map's
//! ItemReader, the full discovery, the full summary) and the Map's ResultWriter output.
//! Large lists live here so the state machine only carries pointers (256 KiB limit).

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use crate::ports::{AwsError, RunStore};

#[derive(Clone)]
pub struct S3RunStore {
    client: Client,
    bucket: String,
}

impl S3RunStore {
    pub fn new(config: &aws_config::SdkConfig, bucket: String) -> Self {
        Self {
            client: Client::new(config),
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
}
