"""The local (embedded SQLite) backend of the ControlPlane protocol."""
