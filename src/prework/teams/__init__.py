"""Teams: named crews of an organization's members (team role ``lead`` or ``member``)."""
