"""Use cases per area. Services see only ports (the Store) and take the acting principal."""
