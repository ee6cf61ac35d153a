"""Helpers for tests and benchmarks: real engines started on free loopback ports.

See :mod:`prework.testing.engines`. Nothing in the application imports this
package.
"""

from prework.testing.engines.process import (
    DynamoDBLocal,
    EngineStartError,
    S3Endpoint,
    SeaweedFS,
    start_dynamodb_local,
    start_seaweedfs,
    wait_dynamodb_ready,
    wait_s3_ready,
)

__all__ = [
    "DynamoDBLocal",
    "EngineStartError",
    "S3Endpoint",
    "SeaweedFS",
    "start_dynamodb_local",
    "start_seaweedfs",
    "wait_dynamodb_ready",
    "wait_s3_ready",
]
