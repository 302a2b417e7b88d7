"""The browser client: static HTML, CSS and JavaScript modules served at ``/`` (no build step)."""
