"""Demo pieces: the mock LLM server (and the demo app and traffic driver)."""
