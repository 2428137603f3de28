// TestSupport: see DESIGN.md.
