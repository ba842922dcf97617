"""Pure parsers: bytes in, typed records or events out (no I/O, capped buffers)."""
