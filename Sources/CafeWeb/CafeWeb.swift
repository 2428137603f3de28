// CafeWeb: see DESIGN.md.
