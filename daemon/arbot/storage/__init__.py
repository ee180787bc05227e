"""The only place that holds SQL: connections, schema, writer, queries and operations."""
