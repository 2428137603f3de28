// Projection: see DESIGN.md.
