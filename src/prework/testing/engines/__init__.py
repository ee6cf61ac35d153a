"""Real engines for tests and benchmarks, one module each; import from the module.

* :mod:`prework.testing.engines.process`: what every engine shares (free
  ports, a process group under a watchdog, readiness polling, the lifecycle).
* :mod:`prework.testing.engines.dynamodb_local`: AWS's DynamoDB Local (Java).
* :mod:`prework.testing.engines.seaweedfs`: SeaweedFS ``weed mini`` (S3).
"""
