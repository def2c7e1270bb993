"""The OpenAI-compatible gateway (LiteLLM proxy) client used by measurements and ``doctor``."""
