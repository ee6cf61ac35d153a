"""Pure domain rules, per area; no I/O, no ports."""
