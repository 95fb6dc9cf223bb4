"""Who may call and what they may ask: API keys, signed links, rate limits, prompt moderation."""
