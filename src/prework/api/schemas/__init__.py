"""Request and response models per area (``XCreate``/``XUpdate``/``XRead``)."""
