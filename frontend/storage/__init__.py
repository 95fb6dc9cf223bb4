"""Where state lives: API keys, image rows and usage in the database; image bytes in the blob store."""
