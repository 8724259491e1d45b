"""satchel-sqlite: an example satchel backend over a SQLite file (see docs/writing-a-backend.md)."""
