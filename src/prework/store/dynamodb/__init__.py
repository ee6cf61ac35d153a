"""The DynamoDB adapter (AWS itself, or DynamoDB Local), through aiobotocore.

* :mod:`~prework.store.dynamodb.store`: :class:`DynamoStore`, the adapter;
* :mod:`~prework.store.dynamodb.expressions`: conditions and updates as
  DynamoDB expressions;
* :mod:`~prework.store.dynamodb.tables`: what ``init`` creates (tables,
  indexes, TTL);
* :mod:`~prework.store.dynamodb.errors`: vendor errors as :mod:`prework.errors`.
"""
