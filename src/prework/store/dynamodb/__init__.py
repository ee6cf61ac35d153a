"""The DynamoDB adapter: :class:`~prework.store.dynamodb.store.DynamoStore`."""
