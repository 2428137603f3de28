// Postgres: see DESIGN.md.
