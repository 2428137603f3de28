// Generated from docs/openapi.json by scripts/embed-openapi; do not edit.
enum OpenAPIDocument { static let json = "{}" }
