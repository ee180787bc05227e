"""The SQLite backend (storage.backend = "sqlite", the default): four files in the data dir."""
