"""The HTTP layer: OpenAI's API on aiohttp. It sees providers only through the manager."""
