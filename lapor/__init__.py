"""lapor: a chat reporting channel for city problems."""
