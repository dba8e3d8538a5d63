"""The durable store: SQLAlchemy Core tables and numbered migrations."""
