"""HTTP endpoints: each module validates input and delegates to a service."""
