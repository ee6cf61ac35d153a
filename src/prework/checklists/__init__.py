"""Checklists: templates (definitions, drafts, published versions, import and export)."""
