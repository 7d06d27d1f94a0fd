"""Data: Belebele items from the hub or local files, validated, split once by passage."""
