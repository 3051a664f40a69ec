"""One thin module per command: options → library call → render."""
