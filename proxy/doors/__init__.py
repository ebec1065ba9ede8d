"""The protocol doors: each turns its own wire format into the domain and back (proxy.core)."""
