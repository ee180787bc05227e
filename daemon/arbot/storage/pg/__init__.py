"""PostgreSQL backend (storage.backend = "postgresql"): the only modules importing psycopg."""
